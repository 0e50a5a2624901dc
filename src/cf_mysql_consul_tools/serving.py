"""Who served when: serving intervals from the proxies' events and consul-lock's audit logs, and overlaps.

Each consul-lock appends JSON lines (wall time, monotonic time, LockIndex, session, reason)
for every activation and deactivation. The ground truth of serving, though, is the proxy's own
``events.jsonl`` (``traffic`` events with ``enabled``), since the proxy is what serves; the
lock's log is a second view. Monotonic times compare across processes of one machine (the lab);
on separate VMs compare wall times (``ts``) and allow for clock skew.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cf_mysql_consul.proxy.events import read_events

PROXY_EVENTS = "sys/log/proxy/events.jsonl"
LOCK_AUDIT = "sys/log/consul-lock/audit.jsonl"
OPENING = {"activate"}
CLOSING = {"deactivate", "release", "step_down", "lock_lost", "started"}


@dataclass(frozen=True, slots=True)
class Interval:
    """One instance serving from ``start`` to ``end`` (monotonic; ``inf`` = still serving)."""

    instance: str
    start: float
    end: float
    detail: str = ""
    ended_by: str = "disabled"  # or "restart" (the process died at an unknown time before), "open"


@dataclass(frozen=True, slots=True)
class Overlap:
    """Two instances serving at the same time."""

    first: Interval
    second: Interval
    start: float
    end: float

    @property
    def seconds(self) -> float:
        """Length of the overlap."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Serving intervals by the proxies' events (ground truth) and by the locks' logs."""

    proxy_intervals: tuple[Interval, ...]
    lock_intervals: tuple[Interval, ...]
    overlaps: tuple[Overlap, ...]
    lock_overlaps: tuple[Overlap, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no two proxies served at once."""
        return not self.overlaps

    def describe(self) -> str:
        """A readable summary for assertion messages and logs."""
        lines = [f"{len(self.proxy_intervals)} serving intervals, {len(self.overlaps)} overlaps"]
        lines += [f"  {i.instance}: {i.start:.3f} .. {i.end:.3f} ({i.ended_by}) {i.detail}"
                  for i in self.proxy_intervals]
        lines += [f"  OVERLAP {o.first.instance} & {o.second.instance}: {o.seconds * 1000:.1f} ms at {o.start:.3f}"
                  for o in self.overlaps]
        return "\n".join(lines)


def proxy_intervals(instance: str, events: Iterable[dict[str, Any]]) -> list[Interval]:
    """Serving intervals from one proxy's ``events.jsonl``: ``traffic`` enabled -> disabled.

    A ``started``/``stopped`` event, or the traffic event a new process logs at start
    (``at_start``), closes an open interval: the process ended before it. A traffic-off event for a
    lease that ran out carries the lease's deadline (``lease_expired_monotonic``): the relay served
    nothing past it, although a proxy resumed from SIGSTOP logs the event only when it runs again.
    """
    out: list[Interval] = []
    opened: tuple[float, str] | None = None
    for e in sorted(events, key=lambda e: float(e.get("monotonic", 0))):
        t = float(e.get("monotonic", 0))
        kind = e.get("event")
        if kind == "traffic" and e.get("enabled") and opened is None:
            opened = (t, str(e.get("reason") or e.get("message", "")))
        elif opened is not None and ((kind == "traffic" and not e.get("enabled")) or kind in ("started", "stopped")):
            restart = kind == "started" or bool(e.get("at_start"))
            expired = e.get("lease_expired_monotonic")
            end = min(t, max(opened[0], float(expired))) if kind == "traffic" and expired is not None else t
            out.append(Interval(instance, opened[0], end, opened[1][:80], "restart" if restart else "disabled"))
            opened = None
    if opened is not None:
        out.append(Interval(instance, opened[0], math.inf, opened[1][:80], "open"))
    return out


def bound_deaths(intervals: list[Interval], gone_at: Iterable[float]) -> list[Interval]:
    """End intervals the proxy never closed itself (it was killed) at the first moment its
    consul-lock found the API refusing connections (``proxy_gone``): the process was dead by then."""
    times = sorted(gone_at)
    out = []
    for i in intervals:
        if i.ended_by in ("restart", "open"):
            seen = next((t for t in times if i.start < t < i.end), None)
            if seen is not None:
                i = Interval(i.instance, i.start, seen, i.detail, "proxy gone")
        out.append(i)
    return out


def lock_intervals(instance: str, entries: Iterable[dict[str, Any]]) -> list[Interval]:
    """Serving intervals as one consul-lock logged them (activate -> deactivate/release/...)."""
    out: list[Interval] = []
    opened: tuple[float, str] | None = None
    for e in sorted(entries, key=lambda e: float(e.get("monotonic", 0))):
        t = float(e.get("monotonic", 0))
        if e.get("event") in OPENING and opened is None:
            opened = (t, f"LockIndex {e.get('lock_index')}")
        elif e.get("event") in CLOSING and opened is not None:
            out.append(Interval(instance, opened[0], t, opened[1]))
            opened = None
    if opened is not None:
        out.append(Interval(instance, opened[0], math.inf, opened[1]))
    return out


def subtract(intervals: list[Interval], windows: Iterable[tuple[float, float]]) -> list[Interval]:
    """Remove ``windows`` (times the caller made the process unable to serve: killed, paused)."""
    result = intervals
    for lo, hi in windows:
        cut: list[Interval] = []
        for i in result:
            if i.end <= lo or i.start >= hi:
                cut.append(i)
                continue
            if i.start < lo:
                cut.append(Interval(i.instance, i.start, lo, i.detail, "not serving"))
            if i.end > hi:
                cut.append(Interval(i.instance, hi, i.end, i.detail, i.ended_by))
        result = cut
    return result


def overlaps(intervals: Iterable[Interval]) -> list[Overlap]:
    """Every pair of intervals of different instances that intersect."""
    items = sorted(intervals, key=lambda i: i.start)
    found = []
    for n, a in enumerate(items):
        for b in items[n + 1:]:
            if b.start >= a.end:
                break
            if a.instance != b.instance:
                found.append(Overlap(a, b, b.start, min(a.end, b.end)))
    return found


def clip(intervals: Iterable[Interval], since: float) -> list[Interval]:
    """Only what lies after ``since``."""
    return [Interval(i.instance, max(i.start, since), i.end, i.detail, i.ended_by) for i in intervals if i.end > since]


def audit(instance_dirs: Mapping[str, Path], *, since: float = 0.0,
          not_serving: Mapping[str, Iterable[tuple[float, float]]] | None = None) -> AuditReport:
    """Audit the proxies whose /var/vcap directories are ``instance_dirs`` (name -> dir).

    ``not_serving`` lists, per instance, monotonic windows in which the caller knows the proxy
    process could not serve (SIGKILLed until restarted, SIGSTOPped until SIGCONT).
    """
    proxies: list[Interval] = []
    locks: list[Interval] = []
    for name, base in instance_dirs.items():
        windows = list((not_serving or {}).get(name, ()))
        lock_log = read_events(base / LOCK_AUDIT)
        served = bound_deaths(proxy_intervals(name, read_events(base / PROXY_EVENTS)),
                              (float(e.get("monotonic", 0)) for e in lock_log if e.get("proxy_gone")))
        proxies += clip(subtract(served, windows), since)
        locks += clip(subtract(lock_intervals(name, lock_log), windows), since)
    return AuditReport(tuple(sorted(proxies, key=lambda i: i.start)), tuple(sorted(locks, key=lambda i: i.start)),
                       tuple(overlaps(proxies)), tuple(overlaps(locks)))
