"""Where the model finds a job's spec: this release's ``jobs/`` directories, and a table of the
jobs of other releases it is deployed beside (``other_releases.yml``: their links only)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from cf_mysql_consul_tools.bosh.jobspec import JobSpec, load_job_spec, parse_job_spec

REPO_ROOT = Path(__file__).resolve().parents[3]
RELEASE_NAME = "cf-mysql-consul"
OTHER_RELEASES = Path(__file__).with_name("other_releases.yml")


@cache
def _other_releases() -> dict[tuple[str, str], JobSpec]:
    table = yaml.safe_load(OTHER_RELEASES.read_text())
    return {(release, job): parse_job_spec({"name": job, **doc}, OTHER_RELEASES.parent / release / job / "spec")
            for release, jobs in table.items() for job, doc in jobs.items()}


@dataclass(frozen=True, slots=True)
class Catalog:
    """The jobs a deployment can name: release ``release`` from ``jobs_dirs`` (the first that has a
    job wins), every other release from the table of other releases' jobs."""

    jobs_dirs: tuple[Path, ...] = (REPO_ROOT / "jobs",)
    release: str = RELEASE_NAME

    def job_dir(self, job: str) -> Path | None:
        """The directory of this release's job ``job``, or None."""
        for d in self.jobs_dirs:
            if (d / job / "spec").is_file():
                return d / job
        return None

    def spec(self, release: str, job: str) -> JobSpec | None:
        """The spec of ``job`` of ``release``, or None when the catalog does not know it.

        Raises RenderError (naming the file) for a spec of this release that does not parse.
        """
        if release != self.release:
            return _other_releases().get((release, job))
        job_dir = self.job_dir(job)
        return None if job_dir is None else load_job_spec(job_dir)

    def is_other_release(self, release: str, job: str) -> bool:
        """True when ``job`` of ``release`` comes from another release (the lab runs a stand-in for it)."""
        return release != self.release and (release, job) in _other_releases()
