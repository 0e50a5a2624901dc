"""Running a chaos campaign: the seed's schedule of faults on a lab, clients writing throughout, invariants
checked after every fault, and a report.

Safety invariants (a violation fails the campaign): never two proxies serving (acknowledged
writes, the proxies' events and /health every 100 ms; windows in which the campaign had killed
or paused a proxy do not count for its events), and no acknowledged write lost (every node is
audited after each fault has been undone and the tier recovered, and at the end). Availability
(reported, never a failure): every fault recovered within its bound once undone: one proxy
serving, the DNS client writing, every Galera node Synced in the full cluster, every consul-lock
armed, every Consul server voting in Raft. A step that does not recover within
``RECOVERY_TIMEOUT_S`` is followed by a forced restore (heal, resume, start what is down,
restart consul-lock if need be) before the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.benchmarks.partition import restore
from cf_mysql_consul_tools.benchmarks.watch import (
    CLIENT_AGENT,
    Clients,
    Figures,
    all_armed,
    galera_whole,
)
from cf_mysql_consul_tools.chaos.schedule import KINDS, Step, make_schedule
from cf_mysql_consul_tools.lab.deploy import rolling_deploy
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.waiting import WaitTimeout, wait_until

Log = Callable[[str], None]
RECOVERY_TIMEOUT_S = 180.0
DEPLOY_DRAIN_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class Violation:
    """An invariant that did not hold: ``safety`` ones fail the campaign, the others are reported."""

    step: int
    invariant: str
    safety: bool
    detail: str


@dataclass(slots=True)
class StepResult:
    """What one step did and what was seen during it (times in seconds since the campaign started)."""

    step: Step
    done: str = ""
    started_s: float | None = None
    undone_s: float | None = None
    recovered_s: float | None = None  # after the undo; None: not within RECOVERY_TIMEOUT_S
    outage_s: float | None = None
    overlap_ms: dict[str, float] = field(default_factory=dict)
    lost_writes: int = 0  # acknowledged writes missing on a node so far, counted after this step
    error: str = ""
    skipped: str = ""
    note: str = ""


@dataclass(slots=True)
class Campaign:
    """A campaign's schedule, results, violations and totals."""

    seed: int
    minutes: float
    kinds: tuple[str, ...]
    schedule: list[Step]
    results: list[StepResult] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    aborted: str = ""  # why the campaign stopped early (the lab could not be brought back)

    @property
    def ok(self) -> bool:
        """True when no safety invariant was violated and the campaign ran to its end."""
        return not self.aborted and not any(v.safety for v in self.violations)

    @property
    def verdict(self) -> str:
        """PASSED, FAILED (a safety violation) or ABORTED, with the availability misses counted."""
        safety = sum(v.safety for v in self.violations)
        misses = len(self.violations) - safety
        head = (f"FAILED: {safety} safety violation(s)" if safety else
                f"ABORTED: {self.aborted}" if self.aborted else "PASSED")
        return head + (f"; {misses} availability miss(es) reported" if misses else "")

    def to_json(self) -> dict[str, Any]:
        """The report's data."""
        return {"seed": self.seed, "minutes": self.minutes, "kinds": list(self.kinds), "verdict": self.verdict,
                "ok": self.ok, "aborted": self.aborted, "seconds": self.seconds,
                "schedule": [s.to_json() for s in self.schedule],
                "steps": [{**asdict(r), "step": r.step.n} for r in self.results],
                "violations": [asdict(v) for v in self.violations], "totals": self.totals}


class Runner:
    """Runs a campaign's steps on ``lab`` under ``clients``."""

    def __init__(self, lab: Lab, clients: Clients, log: Log) -> None:
        self.lab = lab
        self.clients = clients
        self.log = log
        self.start = time.monotonic()
        self.not_serving: dict[str, list[tuple[float, float]]] = {}
        self.lost: frozenset[tuple[str, int]] = frozenset()  # lost writes already reported
        self._pause = threading.Event()

    def since_start(self) -> float:
        """Seconds since the campaign started."""
        return time.monotonic() - self.start

    def _hold(self, seconds: float) -> None:
        """Keep the fault in force (its length, not a synchronisation)."""
        self._pause.wait(seconds)

    def _inject(self, step: Step) -> str:
        """Put ``step``'s fault in force, hold it, undo it; returns what was done."""
        lab = self.lab
        if step.kind == "rolling_deploy":
            report = rolling_deploy(lab, groups=[step.target], log=lambda line: self.log(f"    {line}"),
                                    drain_timeout=DEPLOY_DRAIN_TIMEOUT_S)
            if not report.ok:
                raise RuntimeError(f"rolling deploy of {step.target} failed: {report.error}")
            return f"rolling deploy of {step.target}: {', '.join(report.updated)} in {report.seconds:.0f} s"
        if step.kind == "partition":
            cut = lab.partition(step.target, step.cut_from)
            self._hold(step.hold_s)
            lab.heal()
            return f"partition {cut.describe()}"
        name = lab.consul_leader() if step.kind == "consul_leader" else step.target
        t0 = time.monotonic()
        (lab.pause if step.kind == "pause" else lab.kill)(name)
        self._hold(step.hold_s)
        try:
            if step.kind == "pause":
                lab.resume(name)
            else:
                lab.start(name)
        finally:
            if lab.instance(name).job("proxy") is not None:  # it could not serve from the fault until now
                self.not_serving.setdefault(name, []).append((t0, time.monotonic()))
        verb = "paused" if step.kind == "pause" else "killed"
        return f"{verb} {name}" + (" (the Consul Raft leader)" if step.kind == "consul_leader" else "")

    def recovered(self, since: float) -> bool:
        """One proxy serving, the DNS client writing since ``since``, Galera whole, every Consul server voting,
        every consul-lock armed."""
        log = self.clients.dns.result.ack_log
        return (bool(log) and log[-1][0] > since and len(access.serving(self.lab.deployment)) == 1
                and galera_whole(self.lab) and self.lab.consul_voting() and all_armed(self.lab))

    def run_step(self, step: Step, result: StepResult) -> list[Violation]:
        """Run one step; returns the invariants it broke."""
        violations: list[Violation] = []
        t0 = time.monotonic()
        result.started_s = t0 - self.start
        self.log(f"step {step.n} at {result.started_s:.0f} s: {step.describe()}")
        if step.target == CLIENT_AGENT:
            result.note = (f"the DNS client resolves through {CLIENT_AGENT}'s agent: once its connection fails, "
                           "its outage lasts as long as this fault")
        try:
            result.done = self._inject(step)
        except Exception as exc:  # a fault the lab could not inject or undo: reported, then restored
            result.error = f"{type(exc).__name__}: {exc}"
            self.log(f"  error: {result.error}")
        t_undone = time.monotonic()
        result.undone_s = t_undone - self.start
        try:
            wait_until(lambda: self.recovered(t_undone), timeout=RECOVERY_TIMEOUT_S, interval=0.2,
                       what="the tier to recover")
            result.recovered_s = time.monotonic() - t_undone
        except WaitTimeout:
            self.log(f"  not recovered within {RECOVERY_TIMEOUT_S:g} s: forcing a restore")
            restore(self.lab, None, self.log)
        if result.recovered_s is None or result.recovered_s > step.bound_s:
            violations.append(Violation(step.n, "recovered within its bound", False,
                                        f"{step.describe()}: recovered "
                                        + (f"after {result.recovered_s:.1f} s" if result.recovered_s is not None
                                           else f"not within {RECOVERY_TIMEOUT_S:g} s")
                                        + f" (bound {step.bound_s:g} s)"))
        figures = self.clients.figures(t0, time.monotonic(), not_serving=self.not_serving)
        violations += safety_violations(step.n, step.describe(), figures, new_lost=len(figures.lost - self.lost))
        self.lost |= figures.lost
        result.outage_s = figures.outage_s
        result.overlap_ms = {"writes": figures.overlap_ms_acks, "events": figures.overlap_ms_events,
                             "health": figures.overlap_ms_health}
        result.lost_writes = figures.lost_writes
        self.log(f"  {result.done or 'not done'}; recovered {_s(result.recovered_s)} after the undo "
                 f"(bound {step.bound_s:g} s); outage {figures.outage_s:.1f} s; overlap {figures.overlap_ms:.0f} ms; "
                 f"acknowledged writes missing on a node so far: {figures.lost_writes}")
        return violations


def safety_violations(n: int, what: str, figures: Figures, *, new_lost: int) -> list[Violation]:
    """The safety invariants ``figures`` break during step ``n`` (``what`` it was); ``new_lost``: lost writes
    not reported before."""
    found = []
    if figures.overlap_ms > 0:
        found.append(Violation(n, "never two proxies serving", True,
                               f"{what}: {figures.overlap_ms:.0f} ms; " + "; ".join(figures.overlaps)))
    if new_lost:
        found.append(Violation(n, "no acknowledged write lost", True,
                               f"{what}: {new_lost} more acknowledged writes missing on a node"))
    return found


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def run_campaign(lab: Lab, *, seed: int, minutes: float, kinds: Sequence[str] = KINDS, log: Log = print) -> Campaign:
    """Run the campaign of ``seed`` on ``lab`` (its tier made ready first); the lab is left healed and ready."""
    schedule = make_schedule(seed, minutes, [(i.name, i.group) for i in lab.deployment.instances], kinds)
    campaign = Campaign(seed, minutes, tuple(kinds), schedule)
    log(f"seed {seed}: {len(schedule)} faults in {minutes:g} min")
    for step in schedule:
        log(f"  {step.n:3d}. at {step.at_s:6.1f} s  {step.describe()}")
    restore(lab, None, log)
    started = time.monotonic()
    clients = Clients(lab, on_overlap=lambda t, on: log(
        f"  SAFETY VIOLATION: {' and '.join(on)} both answered /health 200 at {t - started:.1f} s"))
    clients.start()
    runner = Runner(lab, clients, log)
    end_by = minutes * 60
    try:
        wait_until(lambda: clients.dns_acks() >= 20, timeout=60, what="the DNS client to write")
        for step in schedule:
            result = StepResult(step)
            campaign.results.append(result)
            if runner.since_start() > end_by:
                result.skipped = f"over time: the campaign's {minutes:g} min had passed"
                continue
            runner._hold(max(0.0, step.at_s - runner.since_start()))
            found = runner.run_step(step, result)
            for v in found:
                log(f"  {'SAFETY VIOLATION' if v.safety else 'availability miss'}: {v.invariant}: {v.detail}")
            campaign.violations += found
    except Exception as exc:  # the lab could not be brought back: report what was seen up to here
        campaign.aborted = f"{type(exc).__name__}: {exc}"
        log(f"campaign aborted: {campaign.aborted}")
    finally:
        clients.stop()
        lab.heal()
        for inst in lab.deployment.instances:
            lab.resume(inst.name)
    campaign.seconds = time.monotonic() - runner.start
    try:
        restore(lab, None, log)
        totals = clients.figures(runner.start, time.monotonic(), not_serving=runner.not_serving)
    except Exception as exc:
        campaign.aborted = campaign.aborted or f"final audit: {type(exc).__name__}: {exc}"
        log(f"no final audit: {type(exc).__name__}: {exc}")
        return campaign
    campaign.totals = {"acknowledged_writes": totals.acknowledged, "lost_writes": totals.lost_writes,
                       "overlap_ms": {"writes": totals.overlap_ms_acks, "events": totals.overlap_ms_events,
                                      "health": totals.overlap_ms_health},
                       "longest_outage_s": max((r.outage_s for r in campaign.results if r.outage_s is not None),
                                               default=0.0),
                       "overlaps": list(totals.overlaps)}
    final = safety_violations(0, "the whole campaign", totals, new_lost=len(totals.lost - runner.lost))
    campaign.violations += [v for v in final if not any(w.invariant == v.invariant for w in campaign.violations)]
    return campaign
