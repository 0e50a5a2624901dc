"""A/B: a rolling deploy under a steady write load, without and with the galera-drain add-on.

Fair by construction: both runs start a fresh lab from the same manifest (same gcache, same
start timeout), load the same ``prefill_mb`` of rows before the deploy, run the same
``WriteLoad`` through the proxies for the whole deploy, and the deploy keeps each node down
for the same ``downtime_seconds`` (the VM recreate of a stemcell update). The mysql stand-in
has cf-mysql's start behaviour (``mysql_ctl``: wait for Synced within
``database_startup_timeout``, stop and retry on timeout). A = the mysql instance group
without galera-drain (what the seed ran), B = with it. Figures: the deploy's outcome and
duration with per-step seconds (also of a failed run), client errors, acknowledged writes
missing from a node afterwards, mysqld starts (MariaDB's error log) and start timeouts.

The failure A reproduces (seed experiments 3-4): the writes made while the node is down
exceed the gcache, so it must rejoin by SST; an SST of the prefilled data takes longer than
the start timeout, which stops mariadbd half-way; the next attempt needs a full SST again: the
node cycles and the deploy never finishes (here: the watch time fails it).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul.proxy.events import read_events
from cf_mysql_consul_tools.benchmarks.writeload import TrafficKeeper, WriteLoad
from cf_mysql_consul_tools.lab.deploy import Log, rolling_deploy
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.manifest import DEFAULT_MANIFEST
from cf_mysql_consul_tools.lab.standins import MySQLStandIn


@dataclass(frozen=True, slots=True)
class Variant:
    """One side of the A/B."""

    name: str
    with_addon: bool
    start_behaviour: str = "cf-mysql"
    database_startup_timeout: float = 150.0
    gcache_size: str | None = None
    catch_up: str = "auto"


@dataclass(slots=True)
class RunResult:
    """The figures of one run."""

    variant: str
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


def variant_manifest(variant: Variant, dest: Path, *, source: Path = DEFAULT_MANIFEST) -> Path:
    """The lab manifest with the mysql group set up for ``variant``."""
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
                mysql["database_startup_timeout"] = variant.database_startup_timeout
                if variant.gcache_size:
                    mysql["gcache_size"] = variant.gcache_size
            if job["name"] == "galera-drain":
                drain = job.setdefault("properties", {}).setdefault("galera_drain", {})
                drain.setdefault("pre_start", {})["catch_up"] = variant.catch_up
                drain["mysql_startup_timeout_seconds"] = variant.database_startup_timeout
    dest.write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest


def _ctl_events(lab: Lab, name: str) -> list[dict[str, Any]]:
    return read_events(lab.instance_dir(lab.instance(name)) / Path(MySQLStandIn.CTL_EVENTS).relative_to("/var/vcap"))


def mysqld_starts(lab: Lab, name: str, since: float) -> int:
    """How many times mariadbd started on ``name`` since wall time ``since`` (its error log)."""
    log = lab.instance_dir(lab.instance(name)) / "sys" / "log" / "mysql" / "mysql.err.log"
    if not log.exists():
        return 0
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        if "[Note] Starting MariaDB" in line and " as process " in line:
            try:
                stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
            except ValueError:
                continue
            count += stamp >= int(since)
    return count


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


def run_variant(variant: Variant, *, root: Path, groups: list[str] | None, writers: int, rate: float,
                payload_bytes: int, warmup_seconds: float, log: Log, prefill_mb: int = 0,
                downtime_seconds: float = 0.0) -> RunResult:
    """Fresh lab for ``variant``, load on, rolling deploy, load off, figures; lab down afterwards."""
    result = RunResult(variant=variant.name)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = variant_manifest(variant, Path(tmp) / "lab.yml")
        lab = Lab.from_manifest(manifest, root=root, log=lambda line: log(f"  lab: {line}"))
        lab.down(purge=True)
        try:
            lab.up()
            result.prefill_seconds = round(prefill(lab, prefill_mb), 1) if prefill_mb else 0.0
            keeper = TrafficKeeper(lab).start() if not lab.deployment.with_job("consul-lock") else None
            load = WriteLoad(lab, writers=writers, rate=rate, payload_bytes=payload_bytes)
            load.start()
            time.sleep(warmup_seconds)
            since = time.time()
            report = rolling_deploy(lab, groups=groups, log=lambda line: log(f"  [{variant.name}] {line}"),
                                    downtime_seconds=downtime_seconds)
            time.sleep(2)
            seen = load.stop()
            if keeper is not None:
                keeper.stop()
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
                    log(f"  [{variant.name}] {inst.name} not readable afterwards: {exc}")
                    result.missing[inst.name] = -1
                # counted after the wait, so that the cycles of a node that never rejoins are all in
                result.mysqld_starts[inst.name] = mysqld_starts(lab, inst.name, since)
                result.start_timeouts[inst.name] = sum(
                    1 for e in _ctl_events(lab, inst.name) if e["event"] == "timeout" and e["ts"] >= since)
        finally:
            lab.down(purge=True)
    return result


def run_ab(*, root: Path, groups: list[str] | None = None, writers: int = 4, rate: float = 400.0,
           payload_bytes: int = 1000, warmup_seconds: float = 5.0, database_startup_timeout: float = 150.0,
           gcache_size: str | None = None, prefill_mb: int = 0, downtime_seconds: float = 0.0,
           only: str = "AB", log: Log = print) -> list[RunResult]:
    """Run A (no add-on) then B (galera-drain) and return both results."""
    variants = [
        Variant("A: without galera-drain", with_addon=False, database_startup_timeout=database_startup_timeout,
                gcache_size=gcache_size),
        Variant("B: with galera-drain", with_addon=True, database_startup_timeout=database_startup_timeout,
                gcache_size=gcache_size),
    ]
    out = []
    for variant in [v for v in variants if v.name[0] in only]:
        log(f"running {variant.name}")
        out.append(run_variant(variant, root=root, groups=groups, writers=writers, rate=rate,
                               payload_bytes=payload_bytes, warmup_seconds=warmup_seconds, log=log,
                               prefill_mb=prefill_mb, downtime_seconds=downtime_seconds))
    return out


def to_json(results: list[RunResult], params: dict[str, Any]) -> str:
    """The JSON document ``--json`` writes."""
    return json.dumps({"params": params, "results": [asdict(r) for r in results]}, indent=2)
