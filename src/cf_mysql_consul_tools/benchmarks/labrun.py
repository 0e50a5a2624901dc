"""A benchmark's own lab: brought up from nothing, torn down (and purged) afterwards.

Address prefix and state directory come from the task's options, else from
``LAB_ADDRESS_PREFIX`` / ``LAB_ROOT``, else a benchmark default that never collides with a
developer's ``./inv lab.up`` (127.0.10.x, ``.lab``). A relative root is taken from the
checkout (``lab_root``). The lab's consul-lock jobs are stopped so
the benchmark drives proxy/0's traffic itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul_tools.benchmarks.labproxy import LabProxy, stop_lock_jobs
from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.lab.lab import Lab, lab_root
from cf_mysql_consul_tools.lab.manifest import DEFAULT_MANIFEST

DEFAULT_PREFIX = "127.0.15"
DEFAULT_ROOT = REPO_ROOT / ".lab-bench"


def lab_location(prefix: str | None, root: str | None, *, default_prefix: str = DEFAULT_PREFIX,
                 default_root: Path = DEFAULT_ROOT) -> tuple[str, Path]:
    """The address prefix (``a.b.c``) and state directory a benchmark's lab uses (``LabError``
    for a root ``lab_root`` refuses)."""
    chosen = prefix or os.environ.get("LAB_ADDRESS_PREFIX") or default_prefix
    where = root or os.environ.get("LAB_ROOT") or str(default_root)
    return chosen.rstrip("."), lab_root(where)


def parse_galera_options(text: str) -> dict[str, str]:
    """``evs.suspect_timeout=PT2S,evs.keepalive_period=PT0.5S`` -> a map (``ValueError`` naming a bad item)."""
    options: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"--galera-options: {item!r} is not NAME=VALUE (e.g. evs.suspect_timeout=PT2S)")
        options[key.strip()] = value.strip()
    return options


def with_galera_options(dest: Path, options: dict[str, str], *, source: Path = DEFAULT_MANIFEST) -> Path:
    """The lab manifest with ``options`` as every Galera member's extra provider options."""
    raw: dict[str, Any] = yaml.safe_load(source.read_text())
    for group in raw["instance_groups"]:
        for job in group["jobs"]:
            if job["name"] in ("mysql", "arbitrator"):
                mysql = job.setdefault("properties", {}).setdefault("cf_mysql", {}).setdefault("mysql", {})
                mysql["galera_provider_options"] = {**mysql.get("galera_provider_options", {}), **options}
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest


@contextmanager
def bench_lab(prefix: str | None, root: str | None, *, log: Callable[[str], None], keep: bool = False,
              galera_options: dict[str, str] | None = None, stop_locks: bool = True) -> Iterator[Lab]:
    """A fresh lab on ``prefix``, its lock jobs stopped unless ``stop_locks`` is False; purged
    afterwards unless ``keep``.

    ``galera_options`` (e.g. ``{"evs.suspect_timeout": "PT2S"}``) go to every Galera member.
    """
    address_prefix, state = lab_location(prefix, root)
    # Beside the lab's state (which lab.down --purge empties), never in the repository's root.
    manifest = (with_galera_options(state.parent / f"{state.name}.manifests" / "lab.yml", galera_options)
                if galera_options else None)
    lab = Lab.from_manifest(manifest, address_prefix=address_prefix, root=state, log=log)
    log(f"bringing up a lab on {address_prefix}.x (state in {state})"
        + (f" with Galera options {galera_options}" if galera_options else ""))
    lab.down(purge=True)
    try:
        seconds = lab.up()
        log(f"lab up in {seconds:.1f} s")
        stopped = stop_lock_jobs(lab) if stop_locks else []
        if stopped:
            log(f"stopped consul-lock on {', '.join(stopped)}: the benchmark drives proxy/0 itself")
        yield lab
    finally:
        for inst in lab.deployment.instances:  # nothing may stay SIGSTOPped
            lab.resume(inst.name)
        for proxy in lab.deployment.with_job("proxy"):
            try:
                LabProxy.of(lab, proxy.name).disable("benchmark over")
            except Exception as exc:  # the lab goes down anyway
                log(f"could not disable traffic on {proxy.name}: {exc}")
        if keep:
            log(f"lab kept running on {address_prefix}.x (./inv lab.down with the same LAB_* settings)")
        else:
            log("tearing the lab down")
            lab.down(purge=True)
