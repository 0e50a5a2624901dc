"""The director's part for one job on one instance: what its templates see, and rendering them."""

from __future__ import annotations

from pathlib import Path

from cf_mysql_consul_tools.bosh.jobspec import RenderError
from cf_mysql_consul_tools.bosh.links import Provider, providers, resolve
from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance, JobRef
from cf_mysql_consul_tools.bosh.releases import Catalog
from cf_mysql_consul_tools.bosh.render import InstanceSpec, Link, render_job


def instance_spec(deployment: Deployment, inst: Instance) -> InstanceSpec:
    """What ``spec.*`` shows the instance's templates (``spec.address``: a BOSH DNS name when the
    manifest uses DNS addresses, else the IP)."""
    address = (f"{inst.id}.{inst.group}.{inst.network}.{deployment.name}.bosh" if deployment.use_dns_addresses
               else inst.address)
    return InstanceSpec(deployment=deployment.name, name=inst.group, index=inst.index, id=inst.id, address=address,
                        ip=inst.address, az=inst.az, bootstrap=inst.index == 0,
                        networks={inst.network: {"ip": inst.address, "default": ["dns", "gateway"]}})


def job_links(deployment: Deployment, group: str, job: JobRef, catalog: Catalog,
              all_providers: list[Provider] | None = None) -> dict[str, Link]:
    """The links ``job`` of instance group ``group`` consumes (LinkError when they do not resolve)."""
    spec = catalog.spec(job.release, job.name)
    if spec is None:
        raise RenderError(f"instance group '{group}': job '{job.name}' of release '{job.release}' is not in "
                          f"{', '.join(map(str, catalog.jobs_dirs))}")
    found = providers(deployment, catalog) if all_providers is None else all_providers
    return resolve(deployment, group, job, spec, found)


def render_instance_job(deployment: Deployment, inst: Instance, job: JobRef, catalog: Catalog,
                        out_dir: Path) -> list[Path]:
    """Render ``job`` (of this release) for ``inst`` into ``out_dir``, as the director does before
    the agent starts it; the written paths. RenderError or LinkError naming what failed."""
    job_dir = catalog.job_dir(job.name)
    if job_dir is None:
        raise RenderError(f"{inst.name}: job '{job.name}' (release {job.release}) is not in "
                          f"{', '.join(map(str, catalog.jobs_dirs))}")
    return render_job(job_dir, instance=instance_spec(deployment, inst), properties=job.properties,
                      links=job_links(deployment, inst.group, job, catalog), out_dir=out_dir)
