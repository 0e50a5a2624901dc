"""benchmark-bbs's two phases against MySQL, with every operation timed and every write tracked.

Seeding (benchmark-bbs's BeforeSuite, as in the seed's version): ``num_populate_workers``
workers; per LRP ``BENCHMARK-BBS-GUID-%06d``: DesireLRP, then ClaimActualLRP and
StartActualLRP on a random cell of ``num_reps``. Measurement (``num_trials`` cycles): per rep,
"rep bulk loop" around "rep bulk fetch" (its actual LRPs) and then, per LRP, "start actual
LRP" and, with probability ``percent_writes``/2 %, "claim actual LRP"; beside them the nsync
bulker ("fetch all desired LRP scheduling info"), the route emitter ("fetch all actualLRPs")
and convergence ("BBS' internal gathering of LRPs"), each once per cycle (the first after a
random part of it).

Every rep and each of the three bulk components runs in a process of its own, as the reps,
nsync, the route emitter and BBS do in Cloud Foundry (a rep per cell VM). In one Python process
they wait on each other's interpreter lock: with the reps as threads of the runner, a rep's
bulk fetch of 5,000 rows waited behind the 50,000 per-LRP operations of all reps (1.5-4.3 s
where the seed's Go reps took 0.085 s), and a 4 s bulk read beside them took 33-58 s. A rep
runs its per-LRP operations on threads of its own (``measurement_workers`` shared out).
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from cf_mysql_consul.benchmark_bbs import ops
from cf_mysql_consul.benchmark_bbs.client import Pool
from cf_mysql_consul.benchmark_bbs.config import BenchmarkConfig
from cf_mysql_consul.benchmark_bbs.errors import BbsError
from cf_mysql_consul.benchmark_bbs.metrics import Recorder, Sample

T = TypeVar("T")


class Hooks(Protocol):
    """What the workload tells the outside (progress bars, fault injection)."""

    def phase(self, name: str, total: int) -> None:
        """A phase starts with ``total`` units of work."""

    def advance(self, name: str, done: int) -> None:
        """``done`` units of the phase are finished (seeding: LRPs whose DesireLRP returned)."""


class NoHooks:
    """Hooks that do nothing."""

    def phase(self, name: str, total: int) -> None:
        """Ignore."""

    def advance(self, name: str, done: int) -> None:
        """Ignore."""


@dataclass
class Acks:
    """Writes the database acknowledged, for the audit. A failed write makes its LRP "unknown"."""

    desired: set[str] = field(default_factory=set)
    actual: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # guid -> (state, instance, cell)
    unknown: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def desire(self, guid: str) -> None:
        """DesireLRP committed (desired row + UNCLAIMED actual)."""
        with self._lock:
            self.desired.add(guid)
            self.actual.setdefault(guid, (ops.UNCLAIMED, "", ""))

    def write(self, guid: str, state: str, instance: str, cell: str) -> None:
        """A claim or start committed."""
        with self._lock:
            self.actual[guid] = (state, instance, cell)

    def failed(self, guid: str) -> None:
        """A write's outcome is unknown (it may have committed before the error)."""
        with self._lock:
            self.unknown.add(guid)

    def merge(self, writes: dict[str, tuple[str, str, str]], unknown: set[str]) -> None:
        """Take in what another process acknowledged (its last write of each LRP) and lost."""
        with self._lock:
            self.actual.update(writes)
            self.unknown |= unknown


@dataclass
class Outcome:
    """What a run produced."""

    recorder: Recorder
    acks: Acks
    seeded: int = 0
    per_cell: dict[str, int] = field(default_factory=dict)
    seeding_seconds: float = 0.0
    measurement_seconds: float = 0.0
    measurement_started: float | None = None


def _desire(pool: Pool, guid: str) -> None:
    """DesireLRP; "already exists" counts as created, as benchmark-bbs counts it (a retried commit)."""
    try:
        ops.desire_lrp(pool, guid)
    except BbsError as exc:
        if exc.kind != "exists":
            raise


class Workload:
    """One benchmark run against ``pool`` (schema already created)."""

    def __init__(self, config: BenchmarkConfig, pool: Pool, *, hooks: Hooks | None = None,
                 recorder: Recorder | None = None) -> None:
        self.config = config
        self.pool = pool
        self.hooks: Hooks = hooks or NoHooks()
        self.outcome = Outcome(recorder or Recorder(), Acks())
        self._stop = threading.Event()

    @property
    def recorder(self) -> Recorder:
        """Where samples go."""
        return self.outcome.recorder

    def timed(self, phase: str, metric: str, fn: Callable[[], T]) -> tuple[bool, T | None]:
        """Run ``fn``, record a sample; return (ok, result)."""
        t0 = self.recorder.now()
        start = time.monotonic()
        try:
            result = fn()
        except BbsError as exc:
            self.recorder.add(Sample(t0, phase, metric, time.monotonic() - start, False, exc.kind, exc.attempts,
                                     str(exc)[:200]))
            return False, None
        self.recorder.add(Sample(t0, phase, metric, time.monotonic() - start, True))
        return True, result

    # ---- seeding ----------------------------------------------------------------------
    def cells(self) -> list[str]:
        """Every rep's cell name."""
        return [f"cell-{i}" for i in range(self.config.num_reps)]

    def cell_of(self, i: int) -> str:
        """The random (but reproducible) cell of LRP ``i``."""
        return f"cell-{random.Random(f'{self.config.seed}:{i}').randrange(self.config.num_reps)}"

    def seed(self) -> Outcome:
        """The seeding phase; returns the outcome so far."""
        cfg, acks = self.config, self.outcome.acks
        self.hooks.phase("seeding", cfg.desired_lrps)
        counter = [0]
        lock = threading.Lock()
        per_cell: dict[str, int] = {}

        def one(i: int) -> None:
            guid = f"BENCHMARK-BBS-GUID-{i:06d}"
            ok, _ = self.timed("seeding", "SeedDesireLRP", lambda: _desire(self.pool, guid))
            with lock:
                counter[0] += 1
                done = counter[0]
            self.hooks.advance("seeding", done)
            if not ok:
                acks.failed(guid)
                return
            acks.desire(guid)
            cell, instance = self.cell_of(i), guid + "-i"
            ok, _ = self.timed("seeding", "SeedClaimActualLRP",
                               lambda: ops.claim_actual_lrp(self.pool, guid, 0, instance, cell))
            if ok:
                acks.write(guid, ops.CLAIMED, instance, cell)
            else:
                acks.failed(guid)
            ok, _ = self.timed("seeding", "SeedStartActualLRP",
                               lambda: ops.start_actual_lrp(self.pool, guid, 0, instance, cell))
            if ok:
                acks.write(guid, ops.RUNNING, instance, cell)
                with lock:
                    per_cell[cell] = per_cell.get(cell, 0) + 1
            else:
                acks.failed(guid)

        started = time.monotonic()
        with ThreadPoolExecutor(cfg.num_populate_workers, thread_name_prefix="seed") as pool:
            for f in [pool.submit(one, i) for i in range(cfg.desired_lrps)]:
                f.result()
        self.outcome.seeding_seconds = time.monotonic() - started
        self.outcome.seeded = len(acks.desired)
        self.outcome.per_cell = per_cell
        return self.outcome

    # ---- measurement ------------------------------------------------------------------
    def _sleep(self, trial: int) -> None:
        cycle = self.config.cycle_seconds
        self._stop.wait(random.uniform(0, cycle) if trial == 0 else cycle)

    def measure(self) -> Outcome:
        """The measurement phase: reps, nsync, route emitter and convergence, ``num_trials`` cycles each."""
        cfg = self.config
        cells = self.cells()
        self.hooks.phase("measurement", cfg.num_trials * (cfg.num_reps + 3))
        done = [0]
        lock = threading.Lock()

        def step() -> None:
            with lock:
                done[0] += 1
                value = done[0]
            self.hooks.advance("measurement", value)

        workers = max(1, -(-cfg.measurement_workers // cfg.num_reps))
        started = time.monotonic()
        self.outcome.measurement_started = self.recorder.now()
        spawn = multiprocessing.get_context("spawn")  # fork would copy the parent's threads' locks
        with ProcessPoolExecutor(cfg.num_reps + len(BULK_COMPONENTS), mp_context=spawn) as processes:
            futures: list[Future[RepResult]] = [
                processes.submit(run_rep, cfg, self.pool, cell, workers, self.recorder.started) for cell in cells]
            futures += [processes.submit(run_bulk_component, cfg, self.pool, metric, self.recorder.started)
                        for metric in BULK_COMPONENTS]
            for future in as_completed(futures):
                result = future.result()
                for sample in result.samples:
                    self.recorder.add(sample)
                self.outcome.acks.merge(result.writes, result.unknown)
                for _ in range(cfg.num_trials):
                    step()
        self.outcome.measurement_seconds = time.monotonic() - started
        return self.outcome

    def rep(self, cell: str, workers: int) -> None:
        """One rep's ``num_trials`` cycles: "rep bulk loop" around "rep bulk fetch" of its cell's actual
        LRPs, each of which then gets its per-LRP operations on ``workers`` threads."""
        cfg = self.config
        with ThreadPoolExecutor(workers, thread_name_prefix=f"{cell}-op") as ops_pool:
            pending: list[Future[None]] = []
            for trial in range(cfg.num_trials):
                for f in pending:
                    f.result()
                self._sleep(trial)
                t0, start = self.recorder.now(), time.monotonic()
                ok, actuals = self.timed("measurement", "RepBulkFetching",
                                         lambda: ops.actual_lrps_by_cell(self.pool, cell))
                pending = [ops_pool.submit(self._lrp_operation, a) for a in (actuals or [])]
                self.recorder.add(Sample(t0, "measurement", "RepBulkLoop", time.monotonic() - start, ok,
                                         "" if ok else "bulk fetch failed"))
            for f in pending:
                f.result()

    def bulk_component(self, metric: str) -> None:
        """``num_trials`` cycles of one bulk component (a ``BULK_COMPONENTS`` name)."""
        cells = self.cells()
        fetches: dict[str, Callable[[], Any]] = {
            "NsyncBulkerFetching": lambda: ops.desired_scheduling_infos(self.pool),
            "FetchActualLRPsAndSchedulingInfos": lambda: (len(ops.all_actual_lrps(self.pool))
                                                          + ops.desired_scheduling_infos(self.pool)),
            "ConvergenceGathering": lambda: ops.convergence_gathering(self.pool, cells),
        }
        for trial in range(self.config.num_trials):
            self._sleep(trial)
            self.timed("measurement", metric, fetches[metric])

    def _lrp_operation(self, actual: ops.ActualLRP) -> None:
        acks = self.outcome.acks
        guid, instance, cell = actual.process_guid, actual.instance_guid or actual.process_guid + "-i", actual.cell_id
        claiming = random.random() * 100.0 < self.config.percent_writes / 2
        ok, _ = self.timed("measurement", "RepStartActualLRP",
                               lambda: ops.start_actual_lrp(self.pool, guid, actual.index, instance, cell))
        if ok:
            acks.write(guid, ops.RUNNING, instance, cell)
        else:
            acks.failed(guid)
        if claiming:
            ok, _ = self.timed("measurement", "RepClaimActualLRP",
                               lambda: ops.claim_actual_lrp(self.pool, guid, actual.index, instance, cell))
            if ok:
                acks.write(guid, ops.CLAIMED, instance, cell)
            else:
                acks.failed(guid)

    def run(self) -> Outcome:
        """Seeding, then measurement."""
        self.seed()
        return self.measure()


BULK_COMPONENTS = ("NsyncBulkerFetching", "FetchActualLRPsAndSchedulingInfos", "ConvergenceGathering")


@dataclass(frozen=True, slots=True)
class RepResult:
    """What a child process hands back: its samples, and the writes it had acknowledged or lost."""

    samples: list[Sample]
    writes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)


def run_rep(config: BenchmarkConfig, pool: Pool, cell: str, workers: int, started: float) -> RepResult:
    """A child process's work: one rep's cycles, its samples timed from ``started``."""
    workload = Workload(config, pool, recorder=Recorder(started=started))
    try:
        workload.rep(cell, workers)
    finally:
        pool.close()
    acks = workload.outcome.acks
    return RepResult(workload.recorder.snapshot(), dict(acks.actual), set(acks.unknown))


def run_bulk_component(config: BenchmarkConfig, pool: Pool, metric: str, started: float) -> RepResult:
    """A child process's work: one bulk component's cycles, its samples timed from ``started``."""
    workload = Workload(config, pool, recorder=Recorder(started=started))
    try:
        workload.bulk_component(metric)
    finally:
        pool.close()
    return RepResult(workload.recorder.snapshot())
