"""A BOSH-faithful rolling deploy of the lab: what ``bosh deploy`` does to each instance.

Per instance group in manifest order, canaries first, then ``max_in_flight`` instances at a
time (the manifest's ``update`` block); per instance:

1. **drain**: every job's ``bin/drain`` (only this release's jobs have one; stand-ins do
   not), all jobs of the instance concurrently, with BOSH's arguments (``job_changed
   hash_changed JOB...``) and environment (``BOSH_JOB_STATE``, ``BOSH_JOB_NEXT_STATE``,
   ``BOSH_DEPLOYMENT_NEXT_STATE``). Stdout must be one integer: ``N >= 0`` wait N s and go
   on, ``N < 0`` wait |N| s and call again with ``job_check_status hash_unchanged JOB...``.
   A non-zero exit or anything but an integer fails the deploy. BOSH has no drain timeout;
   the lab bounds it by ``drain_timeout`` only so that a test cannot hang.
2. **stop** every process (BPM: SIGTERM, SIGKILL after 20 s; the mysql stand-in 120 s);
   then, with ``downtime_seconds``, stay down that long: the VM recreate of a stemcell
   update, during which the cluster goes on writing (what the node must catch up on);
3. **pre-start** of every job that has one (from its current rendering), before any process
   starts, as BOSH runs them; then **re-render** the jobs and **start** the processes
   (``Lab.start(wait=False)`` renders);
4. **post-start** of every job that has one, in order; a non-zero exit fails the deploy;
5. **watch**: the instance must be running between the watch time's bounds. "Running" is
   what monit would say: every process alive, and for the mysql stand-in in cf-mysql mode
   its start program finished (``mysql_ctl`` reported ``running``: mariadb_ctrl reached the
   database and wrote monit's pidfile).

The first failure aborts the deploy (no further instances are touched), as BOSH does.

``deployment`` deploys a changed manifest (the same instances at the same addresses, other
properties or jobs): from then on the lab renders and starts every instance from it, so an
instance runs its new configuration once it has been updated, and the old one until then.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance
from cf_mysql_consul_tools.lab.lab import Lab, LabError
from cf_mysql_consul_tools.lab.standins import MySQLStandIn, ctl_events

Log = Callable[[str], None]
DRAIN_CALL_TIMEOUT = 600.0
POST_START_TIMEOUT = 1800.0


class DeployError(RuntimeError):
    """A step failed; the deploy stopped there (the message names the instance and the step)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of one instance's update, with its duration."""

    instance: str
    step: str
    seconds: float
    detail: str = ""


@dataclass(slots=True)
class DeployReport:
    """What a rolling deploy did: every step, the total time, and the error that stopped it."""

    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    updated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every instance was updated."""
        return self.error is None

    def step_seconds(self, step: str) -> float:
        """Total seconds spent in ``step`` over all instances."""
        return sum(s.seconds for s in self.steps if s.step == step)


def _bosh_env(*, next_state: str = "keep") -> dict[str, str]:
    return {
        "BOSH_JOB_STATE": json.dumps({"persistent_disk": 1}),
        "BOSH_JOB_NEXT_STATE": json.dumps({"persistent_disk": 1}),
        "BOSH_DEPLOYMENT_NEXT_STATE": next_state,
    }


def _script(lab: Lab, inst: Instance, job: str, name: str) -> Path | None:
    path = lab.instance_dir(inst) / "jobs" / job / "bin" / name
    return path if path.exists() else None


def run_drain(lab: Lab, inst: Instance, job: str, *, job_names: list[str], timeout: float,
              log: Log, mode: str = "job_changed") -> str:
    """Run one job's drain by BOSH's protocol until it says stop; return a summary."""
    path = f"/var/vcap/jobs/{job}/bin/drain"
    args = [mode, "hash_changed", *job_names]
    started = time.monotonic()
    calls = 0
    while True:
        calls += 1
        result = lab.run_in_instance(inst.name, [path, *args], timeout=DRAIN_CALL_TIMEOUT, env=_bosh_env())
        out = result.stdout.strip()
        try:
            value = int(out)
        except ValueError:
            raise DeployError(f"{inst.name}: {job} drain printed {out!r}, not one integer") from None
        last = (result.stderr.strip().splitlines() or [""])[-1]
        if value >= 0:
            time.sleep(value)
            return f"{job}: {value} after {calls} call(s) in {time.monotonic() - started:.1f}s: {last[-160:]}"
        if time.monotonic() - started > timeout:
            raise DeployError(f"{inst.name}: {job} drain still waiting after {timeout:.0f}s (lab bound): {last}")
        if calls == 1 or calls % 6 == 0:
            log(f"  {inst.name}: {job} drain asks to wait {-value}s: {last[-200:]}")
        time.sleep(-value)
        args = ["job_check_status", "hash_unchanged", *job_names]


def instance_running(lab: Lab, inst: Instance, since: float) -> tuple[bool, str]:
    """Would monit say 'running'? Every process alive; a cf-mysql mysql_ctl must have reported running."""
    records = lab.records(inst)
    dead = [r.key for r in records if not lab.is_running(inst.name, r.key)]
    if dead or not records:
        return False, f"not running: {', '.join(dead) or 'no processes'}"
    ctl = lab.instance_dir(inst) / Path(MySQLStandIn.CTL_CONFIG).relative_to("/var/vcap")
    if inst.job("mysql") and ctl.exists():
        # cf-mysql mode: running only once this start's mysql_ctl reported running (an empty list means
        # mysql_ctl has not even written its first event yet: not running either).
        starts = [e for e in ctl_events(lab.instance_dir(inst)) if float(e.get("ts", 0)) >= since]
        if not starts or starts[-1]["event"] != "running":
            last = starts[-1]["event"] if starts else "no event yet"
            return False, f"mysql start program still running (mysql_ctl: {last})"
    return True, "running"


def update_instance(lab: Lab, inst: Instance, *, canary: bool, log: Log, drain_timeout: float,
                    skip_drain: bool = False, downtime_seconds: float = 0.0,
                    steps: list[Step] | None = None) -> list[Step]:
    """Drain, stop, (downtime), pre-start, re-render + start, post-start and watch one instance.

    Every finished step is appended to ``steps`` (when given) as it ends, so a failed update
    still reports the steps before the failure; the failing step is recorded with ``FAILED``.
    Raises ``DeployError``.
    """
    steps = [] if steps is None else steps
    label = f"{inst.name}{' (canary)' if canary else ''}"
    policy = lab.deployment.update
    watch = policy.canary_watch_time if canary else policy.update_watch_time
    current: dict[str, float] = {"drain": time.monotonic()}  # the step under way and when it began

    def begin(name: str) -> float:
        current.clear()
        current[name] = time.monotonic()
        return current[name]

    def step(name: str, t0: float, detail: str = "") -> None:
        steps.append(Step(inst.name, name, time.monotonic() - t0, detail))
        log(f"{label}: {name} {steps[-1].seconds:.1f}s{': ' + detail if detail else ''}")

    try:
        _update_steps(lab, inst, step, begin, log=log, drain_timeout=drain_timeout, skip_drain=skip_drain,
                      downtime_seconds=downtime_seconds, watch=watch)
    except (DeployError, LabError) as exc:
        (name, t0), = current.items()
        steps.append(Step(inst.name, name, time.monotonic() - t0, f"FAILED: {exc}"))
        raise
    return steps


def _update_steps(lab: Lab, inst: Instance, step: Callable[[str, float, str], None], begin: Callable[[str], float],
                  *, log: Log, drain_timeout: float, skip_drain: bool, downtime_seconds: float,
                  watch: tuple[int, int]) -> None:
    job_names = [j.name for j in inst.jobs]

    t0 = begin("drain")
    drains = [j.name for j in inst.jobs if _script(lab, inst, j.name, "drain")] if not skip_drain else []
    if drains:
        with ThreadPoolExecutor(max_workers=len(drains)) as pool:
            futures = [pool.submit(run_drain, lab, inst, j, job_names=job_names, timeout=drain_timeout, log=log)
                       for j in drains]
            try:
                summaries = [f.result() for f in futures]
            except LabError as exc:
                raise DeployError(f"{inst.name}: drain failed: {exc}") from exc
        step("drain", t0, " | ".join(summaries))
    else:
        step("drain", t0, "no drain scripts")

    t0 = begin("stop")
    lab.stop(inst.name)
    step("stop", t0, "")

    if downtime_seconds > 0:
        t0 = begin("downtime")
        time.sleep(downtime_seconds)
        step("downtime", t0, "VM recreate stand-in: the cluster keeps writing")

    t0 = begin("pre-start")
    pre = [j.name for j in inst.jobs if _script(lab, inst, j.name, "pre-start")]
    for job in pre:
        try:
            result = lab.run_in_instance(inst.name, [f"/var/vcap/jobs/{job}/bin/pre-start"],
                                         timeout=POST_START_TIMEOUT)
        except LabError as exc:
            raise DeployError(f"{inst.name}: pre-start of {job} failed: {exc}") from exc
        last = (result.stderr.strip().splitlines() or [""])[-1]
        log(f"  {inst.name}: {job} pre-start: {last[-200:]}")
    step("pre-start", t0, ", ".join(pre) or "none")

    t0 = begin("start")
    started_at = time.time()
    try:
        lab.start(inst.name, wait=False)
    except Exception as exc:
        raise DeployError(f"{inst.name}: start failed: {exc}") from exc
    step("start", t0, "")

    t0 = begin("post-start")
    hooks = [j.name for j in inst.jobs if _script(lab, inst, j.name, "post-start")]
    for job in hooks:
        try:
            lab.run_in_instance(inst.name, [f"/var/vcap/jobs/{job}/bin/post-start"], timeout=POST_START_TIMEOUT)
        except LabError as exc:
            raise DeployError(f"{inst.name}: post-start of {job} failed: {exc}") from exc
    step("post-start", t0, ", ".join(hooks) or "none")

    t0 = begin("watch")
    time.sleep(watch[0] / 1000)
    deadline = t0 + watch[1] / 1000
    while True:
        ok, why = instance_running(lab, inst, started_at)
        if ok:
            break
        if time.monotonic() >= deadline:
            raise DeployError(f"'{inst.name}' is not running after update: {why} "
                              f"(watch time {watch[0]}-{watch[1]} ms)")
        time.sleep(0.5)
    step("watch", t0, "")


def _batches(instances: tuple[Instance, ...], canaries: int, max_in_flight: int) -> list[list[Instance]]:
    first = list(instances[:canaries])
    rest = list(instances[canaries:])
    out = [first] if first else []
    out.extend(rest[i:i + max_in_flight] for i in range(0, len(rest), max(1, max_in_flight)))
    return out


def rolling_deploy(lab: Lab, *, groups: list[str] | None = None, log: Log = print,
                   drain_timeout: float = 1800.0, skip_drain: bool = False,
                   downtime_seconds: float = 0.0, deployment: Deployment | None = None) -> DeployReport:
    """Update every instance of the lab (or of ``groups``) the way the BOSH director would.

    Returns the report; on the first failure it stops there and the report carries the error.
    ``skip_drain`` mimics ``bosh deploy --skip-drain``; ``deployment`` is a changed manifest to
    roll out (see the module docstring).
    """
    report = DeployReport()
    started = time.monotonic()
    if deployment is not None:
        before = {i.name: i.address for i in lab.deployment.instances}
        after = {i.name: i.address for i in deployment.instances}
        if before != after:
            raise DeployError(f"the new manifest must keep the lab's instances and addresses: {before} vs {after}")
        lab.deployment = deployment
    policy = lab.deployment.update
    wanted = groups or list(lab.deployment.groups)
    unknown = [g for g in wanted if g not in lab.deployment.groups]
    if unknown:
        raise DeployError(f"unknown instance group(s) {', '.join(unknown)}; known: {', '.join(lab.deployment.groups)}")
    lock = threading.Lock()

    def safe_log(line: str) -> None:
        with lock:
            log(line)

    try:
        for group in [g for g in lab.deployment.groups if g in wanted]:
            t_group = time.monotonic()
            safe_log(f"updating instance group {group} (canaries {policy.canaries}, "
                     f"max_in_flight {policy.max_in_flight})")
            for n, batch in enumerate(_batches(lab.deployment.group(group), policy.canaries, policy.max_in_flight)):
                with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                    futures = [pool.submit(update_instance, lab, inst, canary=n == 0 and policy.canaries > 0,
                                           log=safe_log, drain_timeout=drain_timeout, skip_drain=skip_drain,
                                           downtime_seconds=downtime_seconds, steps=report.steps)
                               for inst in batch]
                    errors = []
                    for inst, fut in zip(batch, futures, strict=True):
                        try:
                            fut.result()
                            report.updated.append(inst.name)
                        except (DeployError, LabError) as exc:
                            errors.append(str(exc))
                    if errors:
                        raise DeployError("; ".join(errors))
            safe_log(f"instance group {group} updated in {time.monotonic() - t_group:.1f}s")
    except DeployError as exc:
        report.error = str(exc)
        safe_log(f"deploy FAILED after {time.monotonic() - started:.1f}s: {exc}")
    report.seconds = time.monotonic() - started
    if report.ok:
        safe_log(f"deploy finished in {report.seconds:.1f}s ({len(report.updated)} instances)")
    return report
