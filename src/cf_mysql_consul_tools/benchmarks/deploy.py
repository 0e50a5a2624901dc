"""A/B: a rolling deploy under a steady write load, without and with the galera-drain add-on.

Fair by construction: each side gets a fresh lab of its own (its own state directory, brought
up from nothing and checked healthy; the previous side's processes are all gone first) from
the same manifest but for galera-drain, loads the same ``prefill_mb`` of rows before the
deploy, runs the same ``WriteLoad`` through the proxies for the whole deploy, and the deploy
keeps each node down for the same ``downtime_seconds`` (the VM recreate of a stemcell update).
The mysql stand-in has cf-mysql's start behaviour (``mysql_ctl``). The deploy also rolls out
``start_timeout`` as the mysql job's start timeout: the lab comes up with the job's default,
so that a short timeout chosen for the A/B cannot keep the lab itself from coming up (a
cold join of an empty node takes ~12 s on a busy 2-core machine). A = the mysql instance
group without galera-drain (what the seed ran), B = with it. Figures: the deploy's outcome and
duration with per-step seconds (also of a failed run), client errors, acknowledged writes
missing from a node afterwards, mysqld starts (MariaDB's error log) and start timeouts.

A side that cannot run (its lab does not come up, the load cannot start...) is reported with
the phase and the reason (``failed``), and the other side still runs.

The failure A reproduces (seed experiments 3-4): the writes made while the node is down
exceed the gcache, so it must rejoin by SST; an SST of the prefilled data takes longer than
the start timeout, which stops mariadbd half-way; the next attempt needs a full SST again: the
node cycles and the deploy never finishes (here: the watch time fails it).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul_tools.benchmarks.writeload import TrafficKeeper, WriteLoad
from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.lab.deploy import rolling_deploy
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.manifest import DEFAULT_MANIFEST, load_lab_deployment
from cf_mysql_consul_tools.lab.standins import mysqld_starts, start_timeouts

Log = Callable[[str], None]
DEFAULT_PREFIX = "127.0.16"
DEFAULT_ROOT = REPO_ROOT / ".lab-bench-deploy"
SIDES = "AB"


@dataclass(frozen=True, slots=True)
class Variant:
    """One side of the A/B."""

    key: str  # "A" or "B": also the name of its lab's state directory
    name: str
    with_addon: bool
    start_behaviour: str = "cf-mysql"
    gcache_size: str | None = None
    catch_up: str = "auto"


@dataclass(frozen=True, slots=True)
class Settings:
    """What both sides share: the load, the data, the deploy."""

    start_timeout: float = 150.0
    groups: tuple[str, ...] = ("mysql",)
    writers: int = 4
    rate: float = 400.0
    payload_bytes: int = 1000
    warmup_seconds: float = 5.0
    prefill_mb: int = 0
    downtime_seconds: float = 0.0
    gcache_size: str | None = None


@dataclass(slots=True)
class RunResult:
    """The figures of one side; ``failed`` says why a side could not run (phase: reason)."""

    variant: str
    side: str = ""
    failed: str | None = None
    deploy_ok: bool = False
    deploy_seconds: float = 0.0
    deploy_error: str | None = None
    attempts: int = 0
    acked: int = 0
    client_errors: int = 0
    errors_by_code: dict[str, int] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    mysqld_starts: dict[str, int] = field(default_factory=dict)
    start_timeouts: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    prefill_seconds: float = 0.0
    lab_up_seconds: float = 0.0
    logs: str = ""


def variants(gcache_size: str | None) -> list[Variant]:
    """A (no add-on) and B (galera-drain), in that order."""
    return [Variant("A", "A: without galera-drain", with_addon=False, gcache_size=gcache_size),
            Variant("B", "B: with galera-drain", with_addon=True, gcache_size=gcache_size)]


def variant_manifest(variant: Variant, dest: Path, *, start_timeout: float | None = None,
                     source: Path = DEFAULT_MANIFEST) -> Path:
    """The lab manifest with the mysql group set up for ``variant``; ``start_timeout`` is the mysql
    job's start timeout (None: the job's default)."""
    raw: dict[str, Any] = yaml.safe_load(source.read_text())
    for group in raw["instance_groups"]:
        jobs = group["jobs"]
        if not any(j["name"] == "mysql" for j in jobs):
            continue
        if not variant.with_addon:
            group["jobs"] = jobs = [j for j in jobs if j["name"] != "galera-drain"]
        for job in jobs:
            if job["name"] == "mysql":
                props = job.setdefault("properties", {})
                props.setdefault("lab", {})["start_behaviour"] = variant.start_behaviour
                mysql = props.setdefault("cf_mysql", {}).setdefault("mysql", {})
                if start_timeout is not None:
                    mysql["database_startup_timeout"] = start_timeout
                if variant.gcache_size:
                    mysql["gcache_size"] = variant.gcache_size
            if job["name"] == "galera-drain":
                drain = job.setdefault("properties", {}).setdefault("galera_drain", {})
                drain.setdefault("pre_start", {})["catch_up"] = variant.catch_up
                if start_timeout is not None:
                    drain["mysql_startup_timeout_seconds"] = start_timeout
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest


def prefill(lab: Lab, megabytes: int) -> float:
    """Load ``megabytes`` of 1 KB rows (1 MB per transaction) into the cluster; the seconds it took."""
    started = time.monotonic()
    node = lab.deployment.with_job("mysql")[0].name
    with lab.mysql(node) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS prefill")
        cur.execute("CREATE TABLE IF NOT EXISTS prefill.rows (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                    "payload VARCHAR(1024) NOT NULL)")
        for _ in range(megabytes):
            cur.execute("INSERT INTO prefill.rows (payload) SELECT REPEAT('p', 1000) FROM prefill.seq_1_to_1000")
            conn.commit()
    return time.monotonic() - started


class _Side:
    """One side's run, phase by phase, so that a failure names the phase it happened in."""

    def __init__(self, variant: Variant, settings: Settings, *, prefix: str, root: Path, log: Log) -> None:
        self.variant, self.settings, self.log = variant, settings, log
        self.result = RunResult(variant=variant.name, side=variant.key)
        self.prefix = prefix
        manifests = root / "manifests"
        self.up_manifest = variant_manifest(variant, manifests / f"{variant.key}-up.yml")
        self.deploy_manifest = variant_manifest(variant, manifests / f"{variant.key}-deploy.yml",
                                                start_timeout=settings.start_timeout)
        self.logs = root / "logs" / variant.key
        self.state = root / variant.key
        self.lab: Lab | None = None
        self.phase = "lab up"

    def run(self) -> RunResult:
        """Up, prefill, load, deploy, figures; never raises (a failure goes to ``result.failed``)."""
        result, settings = self.result, self.settings
        load: WriteLoad | None = None
        keeper: TrafficKeeper | None = None
        try:
            self.lab = lab = Lab.from_manifest(self.up_manifest, address_prefix=self.prefix, root=self.state,
                                               log=lambda line: self.log(f"  lab {self.variant.key}: {line}"))
            lab.down(purge=True)
            result.lab_up_seconds = round(lab.up(), 1)
            self.phase = "prefill"
            result.prefill_seconds = round(prefill(lab, settings.prefill_mb), 1) if settings.prefill_mb else 0.0
            self.phase = "write load"
            keeper = TrafficKeeper(lab).start() if not lab.deployment.with_job("consul-lock") else None
            load = WriteLoad(lab, writers=settings.writers, rate=settings.rate, payload_bytes=settings.payload_bytes)
            load.start()
            time.sleep(settings.warmup_seconds)
            since = time.time()
            self.phase = "rolling deploy"
            report = rolling_deploy(lab, groups=list(settings.groups) or None,
                                    log=lambda line: self.log(f"  [{self.variant.key}] {line}"),
                                    downtime_seconds=settings.downtime_seconds,
                                    deployment=load_lab_deployment(self.deploy_manifest, address_prefix=self.prefix))
            time.sleep(2)
            self.phase = "figures"
            seen = load.stop()
            result.deploy_ok, result.deploy_seconds, result.deploy_error = report.ok, report.seconds, report.error
            result.step_seconds = {s: round(report.step_seconds(s), 1)
                                   for s in ("drain", "stop", "downtime", "pre-start", "start", "post-start",
                                             "watch")}
            result.steps = [f"{s.instance} {s.step} {s.seconds:.1f}s{' ' + s.detail[:120] if s.detail else ''}"
                            for s in report.steps]
            result.attempts, result.acked = seen.attempts, len(seen.acked)
            result.client_errors, result.errors_by_code = seen.error_count, dict(seen.errors)
            for inst in lab.deployment.with_job("mysql"):
                try:
                    lab.wait_synced(inst.name, timeout=120)
                    result.missing[inst.name] = len(load.missing_on(inst.name))
                except Exception as exc:
                    self.log(f"  [{self.variant.key}] {inst.name} not readable afterwards: {exc}")
                    result.missing[inst.name] = -1
                # counted after the wait, so that the cycles of a node that never rejoins are all in
                result.mysqld_starts[inst.name] = mysqld_starts(lab.instance_dir(inst), since)
                result.start_timeouts[inst.name] = start_timeouts(lab.instance_dir(inst), since)
        except Exception as exc:
            result.failed = f"{self.phase}: {type(exc).__name__}: {exc}"
            self.log(f"side {self.variant.key} FAILED in {self.phase}: {type(exc).__name__}: {exc}")
        finally:
            if load is not None:
                load.stop()
            if keeper is not None:
                keeper.stop()
        return result

    def finish(self, *, keep_running: bool, keep_state: bool) -> list[int]:
        """Keep the logs, then stop the lab (unless ``keep_running``) and purge it (unless ``keep_state``);
        the PIDs of its processes still alive."""
        if self.lab is None:
            return []
        if self.logs.exists():
            shutil.rmtree(self.logs)
        self.result.logs = str(self.lab.copy_logs(self.logs))
        if keep_running:
            return []
        self.lab.down(purge=not keep_state)
        return self.lab.alive_pids()


def run_ab(settings: Settings, *, prefix: str, root: Path, only: str = SIDES, keep_lab: bool = False,
           log: Log = print) -> list[RunResult]:
    """Run the sides in ``only`` (A, then B), each on a fresh lab under ``root/A``, ``root/B``.

    Every lab is on ``prefix``; one side's lab is down (all its processes gone) before the next
    comes up. ``keep_lab`` leaves the last side's lab running and every side's state on disk.
    Logs are kept under ``root/logs/SIDE`` either way.
    """
    chosen = [v for v in variants(settings.gcache_size) if v.key in only]
    out = []
    for n, variant in enumerate(chosen):
        log(f"running {variant.name} (lab on {prefix}.x, state in {root / variant.key})")
        side = _Side(variant, settings, prefix=prefix, root=root, log=log)
        result = side.run()
        last = n == len(chosen) - 1
        left = side.finish(keep_running=keep_lab and last, keep_state=keep_lab)
        if left and not last:
            # The next side would inherit them: refuse rather than measure on a dirty machine.
            reason = f"side {variant.key}'s lab left processes running: {left}"
            out.append(result)
            out.extend(RunResult(variant=v.name, side=v.key, failed=f"lab up: {reason}") for v in chosen[n + 1:])
            return out
        out.append(result)
    return out


def to_json(results: list[RunResult], params: dict[str, Any]) -> str:
    """The JSON document ``--json`` writes."""
    return json.dumps({"params": params, "results": [asdict(r) for r in results]}, indent=2)
