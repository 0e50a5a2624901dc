"""Run one experiment end to end: lab, topology, schema, workload with faults, audits, reports, teardown.

``run(spec, lab=None)`` brings a lab up from the definition's manifest (+ its ops, + the
operator's ops files: ``lab_manifest``) when none is given (reusing one that is already running
at that address and root, and then leaving it running) and tears down what it started; given a
lab (the tests' shared one), it uses it and leaves it healthy: every process it stopped or
paused is running again, traffic is as it found it. ``run_target`` runs the same steps on a
deployment that is already there (a BOSH deployment: ``bosh_target``) and calls its ``heal``
at the end. The result carries the verdict and the run directory.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul.benchmark_bbs import schema
from cf_mysql_consul.benchmark_bbs.client import Pool
from cf_mysql_consul.benchmark_bbs.config import BenchmarkConfig, from_mapping
from cf_mysql_consul.benchmark_bbs.resolve import FixedResolver, Resolver
from cf_mysql_consul.benchmark_bbs.workload import Hooks, NoHooks, Workload
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.bosh.manifest import interpolate
from cf_mysql_consul_tools.bosh.ops import Operation
from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.experiments import audit, reports, topology
from cf_mysql_consul_tools.experiments.faults import FaultRunner
from cf_mysql_consul_tools.experiments.spec import Experiment, scaled
from cf_mysql_consul_tools.experiments.target import Target
from cf_mysql_consul_tools.experiments.verdict import Verdict, decide
from cf_mysql_consul_tools.lab.deploy import DeployReport, rolling_deploy
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.manifest import DEFAULT_MANIFEST
from cf_mysql_consul_tools.lab.standins import mysqld_starts, start_timeouts

Log = Callable[[str], None]
RUNS_DIR = REPO_ROOT / ".experiments"
DATABASE = "diego"


@dataclass
class RunResult:
    """What ``run`` returns."""

    spec: Experiment
    out: Path
    verdict: Verdict
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)


class _Hooks:
    """Forwards seeding progress to the fault runner and to a progress display."""

    def __init__(self, faults: FaultRunner, display: Hooks) -> None:
        self.faults, self.display = faults, display

    def phase(self, name: str, total: int) -> None:
        if name == "measurement":
            self.faults.measurement_started()
        self.display.phase(name, total)

    def advance(self, name: str, done: int) -> None:
        if name == "seeding":
            self.faults.advance(done)
        self.display.advance(name, done)


def lab_ops(spec: Experiment, ops_files: Sequence[Path] = ()) -> list[Path | Operation]:
    """What a run's lab manifest gets: the definition's own operations, then the operator's ops files
    (``--ops``), in order. The one place they are put together; the lab applies them as ``bosh int``."""
    return [*spec.topology.ops, *ops_files]


def lab_manifest(spec: Experiment, ops_files: Sequence[Path] = ()) -> Any:
    """A run's lab manifest with ``lab_ops`` applied (``OpsError`` names a file and path that do not apply)."""
    source = Path(spec.topology.manifest) if spec.topology.manifest else DEFAULT_MANIFEST
    return interpolate(source, lab_ops(spec, ops_files))


def lab_for(spec: Experiment, out: Path, *, log: Log, ops_files: Sequence[Path] = ()) -> Lab:
    """A lab for the definition's manifest with ``lab_ops`` applied (``LAB_ADDRESS_PREFIX``/``LAB_ROOT``
    apply); the deployment it runs is written to ``out/manifest.yml``."""
    source = Path(spec.topology.manifest) if spec.topology.manifest else DEFAULT_MANIFEST
    lab = Lab.from_manifest(source, ops=lab_ops(spec, ops_files), log=log)
    (out / "manifest.yml").write_text(yaml.safe_dump(lab.deployment.manifest, sort_keys=False))
    return lab


def workload_config(spec: Experiment, lab: Target, resolver: Resolver) -> BenchmarkConfig:
    """benchmark-bbs's config for this run (credentials from the manifest)."""
    user, password = access.mysql_admin(lab.deployment)
    addresses = [f"{h}:{p}" for h, p in resolver.candidates()] if isinstance(resolver, FixedResolver) else []
    return from_mapping({**spec.workload, "database_username": user, "database_password": password,
                         "database_name": DATABASE, "database_addresses": addresses or ["unused:3306"]})


def heal(lab: Lab) -> None:
    """Everything running again (SIGCONT to all, start what is stopped, wait until healthy)."""
    for inst in lab.deployment.instances:
        lab.resume(inst.name)
    lab.up()


PROBE_ROUNDS = 3


def throughput_probe(lab: Target, config: BenchmarkConfig, via: Resolver, lrps: int,
                     rounds: int = PROBE_ROUNDS) -> dict[str, Any]:
    """Seeding LRPs/s through ``via`` (the proxy) and directly to a node: ``rounds`` of each, taken in
    turns so that the machine's load drifts over both alike; the medians, their ratio, and every round."""
    node = lab.deployment.with_job("mysql")[0]
    direct = FixedResolver([f"{node.address}:3306"])
    seen: dict[str, list[float]] = {"through_proxy": [], "direct_to_node": []}
    for _ in range(rounds):
        for label, resolver in (("through_proxy", via), ("direct_to_node", direct)):
            with lab.mysql(node.name) as conn:
                schema.recreate(conn, "diego_probe")
            cfg = replace(config, desired_lrps=lrps, database_name="diego_probe").check()
            pool = Pool(resolver, user=cfg.database_username, password=cfg.database_password,
                        database="diego_probe")
            outcome = Workload(cfg, pool).seed()
            pool.close()
            seen[label].append(lrps / outcome.seeding_seconds if outcome.seeding_seconds else 0.0)
    with lab.mysql(node.name) as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS diego_probe")
    proxy, direct_rate = statistics.median(seen["through_proxy"]), statistics.median(seen["direct_to_node"])
    return {"through_proxy": proxy, "direct_to_node": direct_rate,
            "ratio": proxy / direct_rate if direct_rate else 0.0, "lrps": lrps, "rounds": seen}


def run_dir(name: str, ops_files: Sequence[Path] = ()) -> Path:
    """The default run directory: ``.experiments/NAME[-OPS...]-TIMESTAMP``."""
    return RUNS_DIR / "-".join([name, *(p.stem for p in ops_files), f"{datetime.now():%Y%m%d-%H%M%S}"])


def run(spec: Experiment, *, lab: Lab | None = None, scale: float = 1.0, out: Path | None = None,
        log: Log = print, display: Hooks | None = None, keep_lab: bool = False, clients: str | None = None,
        probe_lrps: int = 0, ops_files: Sequence[Path] = ()) -> RunResult:
    """Run ``spec`` (see the module docstring); never raises for a failed verdict. ``ops_files`` patch
    the manifest of the lab the run brings up (not a given ``lab``)."""
    started = time.monotonic()
    spec = scaled(spec, scale)
    out = out or run_dir(spec.name, ops_files)
    out.mkdir(parents=True, exist_ok=True)
    owned = lab is None
    the_lab = lab or lab_for(spec, out, log=log, ops_files=ops_files)
    if owned and the_lab.alive_pids():
        owned = False
        log("a lab is already running at this address and root: using it and leaving it running")
    if owned:
        the_lab.down(purge=True)
        log(f"lab up in {the_lab.up():.1f}s")
    try:
        return _run_on(the_lab, spec, out, log=log, display=display or NoHooks(), clients=clients,
                       deploy=rolling_deploy, started=started, probe_lrps=probe_lrps,
                       ops=[p.stem for p in ops_files])
    finally:
        if owned and not keep_lab:
            log(f"lab logs kept in {the_lab.copy_logs(out / 'logs')}")
            the_lab.down(purge=True)
        elif not owned:
            heal(the_lab)


def run_target(spec: Experiment, target: Target, *, deploy: Callable[..., DeployReport], heal: Callable[[], None],
               scale: float = 1.0, out: Path | None = None, log: Log = print, display: Hooks | None = None,
               clients: str | None = None, probe_lrps: int = 0, resolve: topology.Resolve | None = None) -> RunResult:
    """Run ``spec`` on a deployment that is already up (no lab lifecycle); ``heal()`` afterwards.

    ``deploy(target, groups=..., log=...)`` performs a rolling deploy fault; ``resolve`` is how the
    deployment's clients resolve a Consul name (default: the lab's way).
    """
    started = time.monotonic()
    spec = scaled(spec, scale)
    out = out or run_dir(spec.name)
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _run_on(target, spec, out, log=log, display=display or NoHooks(), clients=clients, deploy=deploy,
                       started=started, probe_lrps=probe_lrps, resolve=resolve)
    finally:
        heal()


def mysql_cycles(lab: Target, since: float) -> dict[str, dict[str, int]]:
    """Per mysql node, mariadbd starts and start timeouts since wall time ``since`` (a lab's logs; a
    target without them counts nothing)."""
    out: dict[str, dict[str, int]] = {"starts": {}, "start_timeouts": {}}
    for inst in lab.deployment.with_job("mysql"):
        out["starts"][inst.name] = mysqld_starts(lab.instance_dir(inst), since)
        out["start_timeouts"][inst.name] = start_timeouts(lab.instance_dir(inst), since)
    return out


def _run_on(lab: Target, spec: Experiment, out: Path, *, log: Log, display: Hooks, clients: str | None,
            deploy: Callable[..., DeployReport], started: float, probe_lrps: int,
            resolve: topology.Resolve | None = None, ops: list[str] | None = None) -> RunResult:
    prepared = topology.prepare(lab, spec, log=log, clients=clients, resolve=resolve)
    t_since = time.monotonic()
    wall_since = time.time()
    try:
        config = workload_config(spec, lab, prepared.resolver)
        with lab.mysql(lab.deployment.with_job("mysql")[0].name) as conn:
            schema.recreate(conn, DATABASE)
        pool = Pool(prepared.resolver, user=config.database_username, password=config.database_password,
                    database=DATABASE, max_open=config.max_open_connections, attempts=config.attempts,
                    retry_delay=config.retry_delay_seconds, connect_timeout=config.connect_timeout_seconds,
                    read_timeout=config.read_timeout_seconds)
        workload = Workload(config, pool)
        faults = FaultRunner(lab, spec.faults, clock=workload.recorder.now, log=log, deploy=deploy)
        workload.hooks = _Hooks(faults, display)
        faults.start()
        try:
            workload.run()
        finally:
            faults.workload_done()
            finished = faults.join(timeout=spec.expect.rejoin_timeout_seconds + 600)
        pool.close()
        if not finished:
            log("faults still running after the workload: the verdict counts them as not done")
        until = time.monotonic()
        checks = [audit.rejoined(lab, timeout=spec.expect.rejoin_timeout_seconds),
                  audit.audit_writes(lab, workload.outcome.acks, DATABASE),
                  audit.checksums(lab, DATABASE),
                  audit.overlap(lab, since=t_since, until=until, not_serving=faults.not_serving_windows())]
        summaries = workload.recorder.summaries()
        verdict = decide(summaries, config.error_tolerance, list(faults.records), checks, spec.expect,
                         planned_faults=len(spec.faults))
        extra: dict[str, Any] = {"mode": prepared.mode, "resolver": prepared.resolver.describe(),
                                 "seeding_lrps_per_second": config.desired_lrps / max(
                                     workload.outcome.seeding_seconds, 1e-9),
                                 "ops": ops or [], "mysqld": mysql_cycles(lab, wall_since)}
        if probe_lrps:
            extra["throughput_probe"] = throughput_probe(lab, config, prepared.resolver, probe_lrps)
        seconds = time.monotonic() - started
        files = reports.write_all(out, spec, verdict, config=config, outcome=workload.outcome, summaries=summaries,
                                  faults=list(faults.records), notes=prepared.notes, suite_seconds=seconds,
                                  extra=extra)
        return RunResult(spec, out, verdict, files, seconds, {**verdict.figures, **extra})
    finally:
        topology.restore(lab, prepared, log=log)
