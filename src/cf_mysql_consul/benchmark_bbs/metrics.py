"""Every timed operation of a run, the per-metric summaries, and benchmark-bbs's error-rate checks.

Metric names and labels are benchmark-bbs's (``RepBulkFetching`` "rep bulk fetch", ...).
As in Ginkgo's ``Benchmarker.Time``, only operations that succeeded contribute to a metric's
times; failures are counted beside them and drive the error rates.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

# Measurement metrics, in the order benchmark-bbs declares them: name -> label.
MEASUREMENT_METRICS: dict[str, str] = {
    "RepBulkFetching": "rep bulk fetch",
    "RepBulkLoop": "rep bulk loop",
    "RepStartActualLRP": "start actual LRP",
    "RepClaimActualLRP": "claim actual LRP",
    "FetchActualLRPsAndSchedulingInfos": "fetch all actualLRPs",
    "ConvergenceGathering": "BBS' internal gathering of LRPs",
    "NsyncBulkerFetching": "fetch all desired LRP scheduling info",
}
# Seeding (benchmark-bbs's BeforeSuite): not in the Ginkgo block, but in every other output.
SEEDING_METRICS: dict[str, str] = {
    "SeedDesireLRP": "desire LRP",
    "SeedClaimActualLRP": "claim actual LRP (seeding)",
    "SeedStartActualLRP": "start actual LRP (seeding)",
}
ALL_METRICS = {**SEEDING_METRICS, **MEASUREMENT_METRICS}
# benchmark-bbs's names for the seeding error rates ("Error rate of X for <what> exceeds ...").
SEEDING_CHECKS = (("SeedDesireLRP", "desireds"), ("SeedClaimActualLRP", "actuals"), ("SeedStartActualLRP", "actuals"))


@dataclass(frozen=True, slots=True)
class Sample:
    """One operation: when it started (seconds since the run started), how long, and how it ended."""

    t: float
    phase: str
    metric: str
    latency: float
    ok: bool
    error_kind: str = ""
    attempts: int = 1
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Summary:
    """One metric: Ginkgo's figures over successful samples, plus the error count."""

    metric: str
    label: str
    count: int
    errors: int
    fastest: float
    slowest: float
    average: float
    stddev: float

    @property
    def error_rate(self) -> float:
        """Failed / attempted (0 when nothing was attempted)."""
        total = self.count + self.errors
        return self.errors / total if total else 0.0


def summarize(metric: str, latencies: list[float], errors: int, label: str | None = None) -> Summary:
    """Fastest, slowest, mean and population standard deviation (as Ginkgo computes them)."""
    n = len(latencies)
    mean = sum(latencies) / n if n else 0.0
    var = sum((x - mean) ** 2 for x in latencies) / n if n else 0.0
    return Summary(metric, label or ALL_METRICS.get(metric, metric), n, errors,
                   min(latencies, default=0.0), max(latencies, default=0.0), mean, math.sqrt(var))


@dataclass
class Recorder:
    """Collects samples from many threads; ``t`` is relative to ``started`` (wall clock, epoch s)."""

    started: float = field(default_factory=time.time)
    samples: list[Sample] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> float:
        """Seconds since the run started."""
        return time.time() - self.started

    def add(self, sample: Sample) -> None:
        """Record one finished operation."""
        with self._lock:
            self.samples.append(sample)

    def snapshot(self) -> list[Sample]:
        """A copy of every sample so far."""
        with self._lock:
            return list(self.samples)

    def summaries(self, metrics: dict[str, str] | None = None) -> list[Summary]:
        """One summary per metric that has samples, in the metrics' declared order."""
        by_metric: dict[str, tuple[list[float], list[int]]] = {}
        for s in self.snapshot():
            lat, err = by_metric.setdefault(s.metric, ([], [0]))
            if s.ok:
                lat.append(s.latency)
            else:
                err[0] += 1
        wanted = metrics if metrics is not None else ALL_METRICS
        return [summarize(m, by_metric[m][0], by_metric[m][1][0], wanted[m]) for m in wanted if m in by_metric]


def tolerance_message(rate: float, what: str, tolerance: float) -> str:
    """benchmark-bbs's failure text."""
    return f"Error rate of {rate:.3f} for {what} exceeds tolerance of {tolerance:.3f}"


def seeding_failures(summaries: list[Summary], tolerance: float) -> list[str]:
    """benchmark-bbs's seeding checks: desireds, then actuals (claims, then starts)."""
    by_metric = {s.metric: s for s in summaries}
    return [tolerance_message(s.error_rate, what, tolerance) for metric, what in SEEDING_CHECKS
            if (s := by_metric.get(metric)) is not None and s.error_rate > tolerance]


def measurement_failures(summaries: list[Summary], tolerance: float) -> list[str]:
    """The same check per measurement metric."""
    by_metric = {s.metric: s for s in summaries}
    return [tolerance_message(s.error_rate, label, tolerance) for metric, label in MEASUREMENT_METRICS.items()
            if (s := by_metric.get(metric)) is not None and s.error_rate > tolerance]


def error_rate_failures(summaries: list[Summary], tolerance: float) -> list[str]:
    """Every error-rate check that fails, seeding first."""
    return seeding_failures(summaries, tolerance) + measurement_failures(summaries, tolerance)


def actual_lrp_error_rate(summaries: list[Summary]) -> float:
    """Failed / attempted over every actual-LRP write (seeding claims and starts, rep starts and claims)."""
    wanted = {"SeedClaimActualLRP", "SeedStartActualLRP", "RepStartActualLRP", "RepClaimActualLRP"}
    count = sum(s.count + s.errors for s in summaries if s.metric in wanted)
    errors = sum(s.errors for s in summaries if s.metric in wanted)
    return errors / count if count else 0.0
