"""Running this release's own jobs in the lab: render their templates as the director would
(through the BOSH model), and turn their rendered ``config/bpm.yml`` into processes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul_tools.bosh.director import render_instance_job
from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance, JobRef
from cf_mysql_consul_tools.bosh.releases import REPO_ROOT, Catalog
from cf_mysql_consul_tools.lab.processes import ProcessSpec

PACKAGE_NAME = "cf-mysql-consul"


class JobError(RuntimeError):
    """A release job cannot be run in the lab; the message names the job and the fix."""


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
    deployment: Deployment, instance: Instance, job: JobRef, instance_dir: Path, catalog: Catalog
) -> list[ProcessSpec]:
    """Render ``job`` into ``/var/vcap/jobs/JOB`` of the instance and return its BPM processes."""
    out_dir = instance_dir / "jobs" / job.name
    render_instance_job(deployment, instance, job, catalog, out_dir)
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
