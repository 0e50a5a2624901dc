"""Running this release's own jobs in the lab: render their templates as the director would,
resolve their links, and turn their rendered ``config/bpm.yml`` into processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul_tools.lab.manifest import Deployment, Instance, JobRef
from cf_mysql_consul_tools.lab.processes import ProcessSpec
from cf_mysql_consul_tools.release.jobspec import link_properties
from cf_mysql_consul_tools.release.renderer import (
    InstanceSpec,
    JobSpec,
    Link,
    LinkInstance,
    load_job_spec,
    render_job,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
RELEASE_JOBS_DIR = REPO_ROOT / "jobs"
PACKAGE_NAME = "cf-mysql-consul"

# Links that the stand-ins provide: job -> (link name, link type, link properties).
STAND_IN_LINKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "mysql": ("mysql", "mysql", {"port": 3306, "cf_mysql": {"mysql": {"port": 3306}}}),
    "arbitrator": ("arbitrator", "arbitrator", {}),
    "consul_agent": ("consul_common", "consul_common", {}),
}


class JobError(RuntimeError):
    """A release job cannot be run in the lab; the message names the job and the fix."""


@dataclass(frozen=True, slots=True)
class Provider:
    """One job that provides a link in the deployment."""

    group: str
    job: str
    name: str
    type: str
    properties: dict[str, Any]


def find_job_dir(job: str, jobs_dirs: tuple[Path, ...]) -> Path | None:
    """The directory of release job ``job`` in the first of ``jobs_dirs`` that has it."""
    for d in jobs_dirs:
        if (d / job / "spec").exists():
            return d / job
    return None


def providers(deployment: Deployment, jobs_dirs: tuple[Path, ...]) -> list[Provider]:
    """Every link provider in the deployment: stand-ins and release jobs' ``provides``."""
    found: list[Provider] = []
    seen: set[tuple[str, str]] = set()
    for inst in deployment.instances:
        for job in inst.jobs:
            if (inst.group, job.name) in seen:
                continue
            seen.add((inst.group, job.name))
            job_dir = find_job_dir(job.name, jobs_dirs)
            if job_dir is None:
                if job.name in STAND_IN_LINKS:
                    name, type_, props = STAND_IN_LINKS[job.name]
                    found.append(Provider(inst.group, job.name, name, type_, props))
                continue
            spec = load_job_spec(job_dir)
            for p in spec.provides:
                props = link_properties(spec, job.properties, list(p.get("properties") or []))
                found.append(Provider(inst.group, job.name, str(p["name"]), str(p["type"]), props))
    return found


def resolve_links(
    deployment: Deployment, instance: Instance, job: JobRef, spec: JobSpec, jobs_dirs: tuple[Path, ...]
) -> dict[str, Link]:
    """BOSH-style link resolution: explicit ``consumes.X.from`` first, else the unique provider of the type.

    Colocated providers win over others of the same type, as BOSH prefers when ambiguous.
    """
    all_providers = providers(deployment, jobs_dirs)
    links: dict[str, Link] = {}
    for consumer in spec.consumes:
        name, type_ = str(consumer["name"]), str(consumer["type"])
        explicit = (job.consumes.get(name) or {}) if isinstance(job.consumes.get(name), dict) else {}
        if job.consumes.get(name) == "nil":
            continue
        wanted = explicit.get("from")
        candidates = [p for p in all_providers if (p.name == wanted if wanted else p.type == type_)]
        local = [p for p in candidates if p.group == instance.group]
        if len(candidates) > 1 and local:
            candidates = local
        if not candidates:
            if consumer.get("optional"):
                continue
            raise JobError(
                f"{instance.name} job '{job.name}': no job in deployment {deployment.name} provides link "
                f"'{name}' (type {type_}); add a provider or set consumes.{name}.from in the manifest"
            )
        if len(candidates) > 1:
            names = ", ".join(f"{p.group}/{p.job}" for p in candidates)
            raise JobError(
                f"{instance.name} job '{job.name}': link '{name}' (type {type_}) has several providers ({names}); "
                f"set consumes.{name}.from in the manifest"
            )
        provider = candidates[0]
        members = deployment.group(provider.group)
        links[name] = Link(
            instances=tuple(
                LinkInstance(name=m.group, index=m.index, id=m.id, address=m.address, bootstrap=m.index == 0)
                for m in members
            ),
            properties=provider.properties,
        )
    return links


def instance_spec(deployment: Deployment, instance: Instance) -> InstanceSpec:
    """What ``spec.*`` shows this instance's templates."""
    return InstanceSpec(
        deployment=deployment.name, name=instance.group, index=instance.index, id=instance.id,
        address=instance.address, ip=instance.address, bootstrap=instance.index == 0,
    )


def install_package(instance_dir: Path) -> None:
    """Make ``/var/vcap/packages/cf-mysql-consul`` this checkout's virtualenv (the lab's package)."""
    packages = instance_dir / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    link = packages / PACKAGE_NAME
    target = REPO_ROOT / ".venv"
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def render_release_job(
    deployment: Deployment, instance: Instance, job: JobRef, instance_dir: Path, jobs_dirs: tuple[Path, ...]
) -> list[ProcessSpec]:
    """Render ``job`` into ``/var/vcap/jobs/JOB`` of the instance and return its BPM processes."""
    job_dir = find_job_dir(job.name, jobs_dirs)
    if job_dir is None:
        raise JobError(f"{instance.name}: job '{job.name}' (release {job.release}) is not in "
                       f"{', '.join(map(str, jobs_dirs))} and the lab has no stand-in for it")
    spec = load_job_spec(job_dir)
    out_dir = instance_dir / "jobs" / job.name
    render_job(
        job_dir, instance=instance_spec(deployment, instance), properties=job.properties,
        links=resolve_links(deployment, instance, job, spec, jobs_dirs), out_dir=out_dir,
    )
    install_package(instance_dir)
    for sub in (f"sys/log/{job.name}", f"sys/run/{job.name}", f"data/{job.name}", f"store/{job.name}"):
        (instance_dir / sub).mkdir(parents=True, exist_ok=True)
    bpm = out_dir / "config" / "bpm.yml"
    if not bpm.exists():
        return []
    return bpm_processes(job.name, yaml.safe_load(bpm.read_text()) or {})


def bpm_processes(job: str, bpm: dict[str, Any]) -> list[ProcessSpec]:
    """The processes a rendered ``bpm.yml`` lists."""
    specs = []
    for proc in bpm.get("processes") or []:
        if "name" not in proc or "executable" not in proc:
            raise JobError(f"job '{job}': every bpm.yml process needs 'name' and 'executable'")
        specs.append(ProcessSpec(
            job=job, name=str(proc["name"]), executable=str(proc["executable"]),
            args=tuple(str(a) for a in proc.get("args") or []),
            env={str(k): str(v) for k, v in (proc.get("env") or {}).items()},
        ))
    return specs
