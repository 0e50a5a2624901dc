"""bench.partition: what clients see when Consul fails or the network splits, consul-lock vs stock ``consul lock``.

Each scenario of the issue's table is injected into a running lab while clients write (see
``watch``), held (30 s, or 300 s with ``--long``), then undone: a partition is healed, a killed
Raft leader started again. Per run: the DNS client's longest gap between acknowledged writes
(outage), the overlap of serving proxies from three sources, acknowledged writes missing on any
Galera node, and the time from the heal until every consul-lock is armed again (a session Consul
knows, ready to serve or to take over). The median of the runs goes beside the issue's target.
The baseline, in the same run: stock ``consul lock`` (Consul's defaults: session TTL 15 s,
lock-delay 15 s) wrapping the proxy's traffic switch, as ``bench.lock`` runs it; armed there = a
session of its own that Consul knows.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.benchmarks import lock as stock_lock
from cf_mysql_consul_tools.benchmarks.watch import Clients, Figures, all_armed, galera_whole
from cf_mysql_consul_tools.lab import lock_checks as lc
from cf_mysql_consul_tools.lab.lab import Lab, LabError
from cf_mysql_consul_tools.lab.waiting import WaitTimeout, wait_until

Log = Callable[[str], None]
OURS = "consul-lock"
STOCK = "stock consul lock"
REARM_TARGET_S = 5.0
REARM_TIMEOUT_S = 150.0
RECOVERY_TIMEOUT_S = 180.0
TAIL_S = 2.0  # writes kept after recovery, so a late second serving proxy would still show
STOCK_JSON_PREFIX = "stock-consul-lock/"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One row of the issue's table: a fault held for ``hold_s``, and its outage target."""

    name: str
    title: str
    target_s: float
    hold_s: float = 30.0
    long: bool = False


SCENARIOS = (
    Scenario("holder-cut-from-consul", "holder's instance cut off from the Consul servers only", 2.0),
    Scenario("consul-unreachable-30s", "Consul servers unreachable from every instance, 30 s", 2.0),
    Scenario("consul-unreachable-300s", "Consul servers unreachable from every instance, 300 s", 2.0, 300.0,
             long=True),
    Scenario("raft-leader-killed", "Consul Raft leader SIGKILLed (started again after 30 s)", 2.0),
    Scenario("holder-isolated", "holder's instance cut off from every other instance", 6.0),
    Scenario("galera-node-isolated", "active Galera node cut off from its Galera peers", 4.0),
)
FIXED_HOLD = {"consul-unreachable-30s", "consul-unreachable-300s"}  # the hold is in the name


def scenario(name: str) -> Scenario:
    """A scenario by name (``ValueError`` naming the known ones)."""
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise ValueError(f"unknown scenario {name!r} (known: {', '.join(s.name for s in SCENARIOS)})")


@dataclass(frozen=True, slots=True)
class Run:
    """One measured run of one scenario."""

    system: str
    scenario: str
    outage_s: float | None  # None: the client did not write again within RECOVERY_TIMEOUT_S of the heal
    overlap_ms: float
    overlap_ms_acks: float
    overlap_ms_events: float
    overlap_ms_health: float
    lost_writes: int
    rearm_s: float | None  # None: not every lock armed within REARM_TIMEOUT_S
    acknowledged: int
    fault: str
    overlaps: tuple[str, ...] = ()


def inject(lab: Lab, s: Scenario, holder: str) -> tuple[str, Callable[[], None]]:
    """Put scenario ``s`` in force; (what was done, how to undo it)."""
    if s.name == "raft-leader-killed":
        leader = lab.consul_leader()
        lab.kill(leader)
        return f"killed the Raft leader {leader}", lambda: lab.start(leader)
    if s.name == "holder-cut-from-consul":
        cut = lab.partition(holder, "consul")
    elif s.name.startswith("consul-unreachable"):
        cut = lab.partition("consul", "rest")
    elif s.name == "holder-isolated":
        cut = lab.partition(holder, "rest")
    elif s.name == "galera-node-isolated":
        backend = access.active_backend(lab.deployment, holder)
        if backend is None:
            raise RuntimeError(f"{holder} has no active backend to cut off")
        peers = [i.name for i in (*lab.deployment.with_job("mysql"), *lab.deployment.with_job("arbitrator"))
                 if i.name != backend]
        cut = lab.partition(backend, peers)
    else:
        raise ValueError(f"no injection for scenario {s.name!r}")

    def heal() -> None:
        lab.heal()
    return f"partition {cut.describe()}", heal


def stock_armed(lab: Lab) -> bool:
    """Every proxy has its stock ``consul lock`` session (named ``stock NAME``) in Consul."""
    for inst in lab.deployment.with_job("consul_agent"):
        try:
            sessions = requests.get(f"{lab.consul_url(inst.name)}/v1/session/list", timeout=1).json()
        except (requests.RequestException, ValueError):
            continue
        names = {s.get("Name") for s in sessions}
        return all(f"stock {p}" in names for p in lc.proxies(lab))
    return False


def _hold(seconds: float, clients: Clients, lab: Lab, log: Log) -> None:
    """Keep the fault in force for ``seconds`` (its length, not a synchronisation), reporting every 10 s."""
    end = time.monotonic() + seconds
    stop = threading.Event()
    while (left := end - time.monotonic()) > 0:
        stop.wait(min(10.0, left))
        if end - time.monotonic() > 0.5:
            log(f"  holding: {end - time.monotonic():.0f} s left; DNS client {clients.dns_acks()} writes; "
                f"serving: {', '.join(access.serving(lab.deployment)) or 'none'}")


def measure(lab: Lab, s: Scenario, stock: stock_lock.Stock | None, *, hold_s: float, log: Log) -> Run:
    """One run of ``s`` on a lab whose tier is ready (one proxy serving, every lock armed), with consul-lock
    or (``stock``) stock consul lock."""
    holder = lc.wait_one_active(lab, timeout=120)
    system = OURS if stock is None else STOCK

    def armed() -> bool:
        return all_armed(lab) if stock is None else stock_armed(lab)

    def exited() -> list[str]:  # stock consul lock exits when it loses the lock; nothing restarts it here
        return [name for name, proc in (stock.procs.items() if stock else ()) if proc.poll() is not None]

    def gone() -> str | None:
        return f"stock consul lock exited on {', '.join(exited())}" if exited() else None

    def none_left() -> str | None:
        left = stock is not None and len(exited()) == len(stock.procs)
        return "no stock consul lock is left to serve" if left else None
    clients = Clients(lab)
    clients.start()
    try:
        since = time.monotonic()
        wait_until(lambda: clients.dns_acks() >= 20, timeout=60, what="the DNS client to write through the holder")
        t0 = time.monotonic()
        what, undo = inject(lab, s, holder)
        log(f"  {what} (holder {holder}); holding {hold_s:g} s")
        _hold(hold_s, clients, lab, log)
        t_heal = time.monotonic()
        undo()
        log(f"  undone after {t_heal - t0:.1f} s; waiting for every lock to be armed and the client to write")
        try:
            wait_until(armed, timeout=REARM_TIMEOUT_S, what="every lock armed", interval=0.1, abort=gone)
            rearm: float | None = time.monotonic() - t_heal
        except WaitTimeout as exc:
            log(f"  not re-armed: {exc}")
            rearm = None
        try:
            wait_until(lambda: any(t > t_heal for t, _ in clients.dns.result.ack_log), timeout=RECOVERY_TIMEOUT_S,
                       what="the DNS client to write again after the heal", abort=none_left)
            recovered = True
        except WaitTimeout as exc:
            log(f"  the client did not write again: {exc}")
            recovered = False
        wait_until(lambda: galera_whole(lab), timeout=120, what="every Galera node Synced in the full cluster")
        until = time.monotonic() + TAIL_S
        wait_until(lambda: time.monotonic() >= until, timeout=TAIL_S + 5, what="the tail of client writes")
    finally:
        clients.stop()
    figures: Figures = clients.figures(since, until, fault_at=t0)
    return Run(system, s.name, figures.outage_s if recovered else None, figures.overlap_ms, figures.overlap_ms_acks,
               figures.overlap_ms_events, figures.overlap_ms_health, figures.lost_writes, rearm,
               figures.acknowledged, what, figures.overlaps)


def restore(lab: Lab, stock: stock_lock.Stock | None, log: Log) -> None:
    """Heal, bring back what a fault stopped (``lab.up`` also waits for every Consul server to vote in Raft
    again), and wait for a ready tier (ours: every lock armed)."""
    lab.heal()
    stock_lock.restore(lab, stock)
    if stock is not None:
        wait_until(lambda: stock_armed(lab), timeout=120, what="every stock consul lock to hold a session")
        return
    try:
        wait_until(lambda: all_armed(lab), timeout=REARM_TIMEOUT_S, what="every consul-lock armed")
    except WaitTimeout:
        log("  not every consul-lock re-armed: restarting consul-lock on every proxy")
        for name in lc.proxies(lab):
            lab.stop(name, "consul-lock")
            lab.start(name, "consul-lock")
        wait_until(lambda: all_armed(lab), timeout=120, what="every consul-lock armed after a restart")


def run_bench(lab: Lab, scenarios: list[Scenario], *, runs: int, stock_runs: int, hold_s: float | None,
              log: Log) -> tuple[list[Run], list[str]]:
    """Every scenario ``runs`` times with consul-lock, then ``stock_runs`` times with stock consul lock.

    Returns the runs and, for a run that could not be measured (the lab did not get back in time), why:
    the bench restores the lab and goes on.
    """
    results: list[Run] = []
    failed: list[str] = []

    def one(s: Scenario, system: str, n: int, total: int, stock: stock_lock.Stock | None) -> None:
        hold = s.hold_s if hold_s is None or s.name in FIXED_HOLD else hold_s
        log(f"{system}: {s.name} run {n}/{total}: {s.title}")
        try:
            run = measure(lab, s, stock, hold_s=hold, log=log)
        except (WaitTimeout, LabError, RuntimeError) as exc:
            failed.append(f"{system}: {s.name} run {n}: {type(exc).__name__}: {exc}")
            log(f"  RUN FAILED: {failed[-1]}")
            restore(lab, stock, log)
            return
        results.append(run)
        log(f"  outage {fmt(run.outage_s)} s (target {s.target_s:g}), overlap {run.overlap_ms:.0f} ms, "
            f"lost {run.lost_writes}, re-armed after the heal: {fmt(run.rearm_s)} s; {run.acknowledged} writes")
        for line in run.overlaps:
            log(f"  OVERLAP {line}")
        restore(lab, stock, log)

    restore(lab, None, log)
    for s in scenarios:
        for n in range(1, runs + 1):
            one(s, OURS, n, runs, None)
    if stock_runs:
        stock = stock_lock.Stock(lab)
        try:
            restore(lab, stock, log)
            for s in scenarios:
                for n in range(1, stock_runs + 1):
                    one(s, STOCK, n, stock_runs, stock)
        finally:
            stock.teardown()
            restore(lab, None, log)
    return results, failed


def fmt(value: float | None) -> str:
    """Seconds with two decimals, or ``never`` (not within its timeout)."""
    return "never" if value is None else f"{value:.2f}"


def _median(values: list[float | None]) -> float | None:
    """The median, or None when a run never got there."""
    if not values or any(v is None for v in values):
        return None
    return statistics.median(v for v in values if v is not None)


def summary(results: list[Run], system: str) -> dict[str, dict[str, Any]]:
    """Per scenario, medians of ``system``'s runs (overlap and lost writes: the worst run)."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r.scenario for r in results if r.system == system):
        runs = [r for r in results if r.system == system and r.scenario == name]
        out[name] = {
            "outage_s": _median([r.outage_s for r in runs]),
            "target_s": scenario(name).target_s,
            "overlap_ms": max(r.overlap_ms for r in runs),
            "lost_writes": max(r.lost_writes for r in runs),
            "rearm_s": _median([r.rearm_s for r in runs]),
        }
    return out


def results_json(results: list[Run]) -> dict[str, Any]:
    """``{"scenarios": {NAME: {outage_s, target_s, overlap_ms, lost_writes, rearm_s}}}``; stock consul lock's
    under ``stock-consul-lock/NAME``. An infinite overlap (a proxy still serving) is written as null."""
    scenarios = summary(results, OURS)
    scenarios.update({STOCK_JSON_PREFIX + k: v for k, v in summary(results, STOCK).items()})
    for row in scenarios.values():
        if row["overlap_ms"] == math.inf:
            row["overlap_ms"] = None
    return {"scenarios": scenarios}


def runs_json(results: list[Run]) -> list[dict[str, Any]]:
    """Every run, for a log or a report."""
    return [asdict(r) for r in results]


def print_table(console: Console, results: list[Run], *, runs: int, stock_runs: int, failed: list[str]) -> None:
    """The figures beside the targets; every miss in red; the runs that could not be measured."""
    ours, stock = summary(results, OURS), summary(results, STOCK)
    table = Table(title=f"bench.partition: median of {runs} (stock consul lock: {stock_runs}); "
                        f"overlap and lost writes: worst run")
    table.add_column("scenario", no_wrap=True)
    for col in ("outage s", "target s", "overlap ms: writes / events / health", "lost writes",
                f"re-armed s (target {REARM_TARGET_S:g})",
                "stock consul lock: outage s / overlap ms / lost / re-armed s"):
        table.add_column(col)

    def colour(bad: bool, text: str) -> str:
        return f"[{'red' if bad else 'green'}]{text}[/]"

    for name in dict.fromkeys(r.scenario for r in results):
        row, base = ours.get(name), stock.get(name)
        cells = ["-"] * 5
        if row is not None:
            mine = [r for r in results if r.system == OURS and r.scenario == name]
            worst = [max(getattr(r, f) for r in mine) for f in ("overlap_ms_acks", "overlap_ms_events",
                                                                "overlap_ms_health")]
            cells = [colour(row["outage_s"] is None or row["outage_s"] > row["target_s"], fmt(row["outage_s"])),
                     f"<= {row['target_s']:g}", colour(any(worst), " / ".join(f"{w:.0f}" for w in worst)),
                     colour(row["lost_writes"] > 0, str(row["lost_writes"])),
                     colour(row["rearm_s"] is None or row["rearm_s"] > REARM_TARGET_S, fmt(row["rearm_s"]))]
        table.add_row(name, *cells, f"{fmt(base['outage_s'])} / {base['overlap_ms']:.0f} / {base['lost_writes']} / "
                                    f"{fmt(base['rearm_s'])}" if base else "-")
    console.print(table)
    console.print("targets: outage as in the issue's table; overlap 0 ms and 0 lost writes in every run; every "
                  f"consul-lock armed within {REARM_TARGET_S:g} s of the heal. 'never': not re-armed within "
                  f"{REARM_TIMEOUT_S:g} s, or no write within {RECOVERY_TIMEOUT_S:g} s of the heal (stock consul "
                  "lock exits when it loses the lock and nothing restarts it here). Timings measured on a shared "
                  "2-core machine are noisy.", highlight=False)
    for line in failed:
        console.print(f"[red]not measured:[/] {line}", highlight=False)
