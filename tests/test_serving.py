"""The audit on synthetic logs: intervals from traffic events, deaths, paused windows, overlaps."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from cf_mysql_consul_tools.serving import LOCK_AUDIT, PROXY_EVENTS, audit, overlaps, proxy_intervals, subtract


def traffic(t: float, enabled: bool) -> dict[str, Any]:
    return {"event": "traffic", "monotonic": t, "enabled": enabled, "reason": "x"}


def write(base: Path, rel: str, entries: list[dict[str, Any]]) -> None:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def test_intervals_and_overlap() -> None:
    a = proxy_intervals("p0", [traffic(1, True), traffic(5, False), traffic(9, True)])
    b = proxy_intervals("p1", [traffic(4, True), traffic(8, False)])
    assert [(i.start, i.end) for i in a] == [(1, 5), (9, math.inf)]
    found = overlaps(a + b)
    assert len(found) == 1 and (found[0].start, found[0].end) == (4, 5)


def test_a_lease_that_ran_out_while_the_proxy_was_stopped_ends_at_its_deadline() -> None:
    late_off = {**traffic(20, False), "lease_expired_monotonic": 6.5}
    assert [(i.start, i.end) for i in proxy_intervals("p0", [traffic(1, True), late_off])] == [(1, 6.5)]
    # A deadline before the interval opened (a clock mix-up) never makes the interval negative.
    odd = {**traffic(20, False), "lease_expired_monotonic": 0.5}
    assert [(i.start, i.end) for i in proxy_intervals("p0", [traffic(1, True), odd])] == [(1, 1)]


def test_paused_window_is_removed() -> None:
    a = proxy_intervals("p0", [traffic(1, True), traffic(20, False)])
    assert [(i.start, i.end) for i in subtract(a, [(3, 19)])] == [(1, 3), (19, 20)]


def test_a_killed_proxy_ends_where_its_lock_found_it_gone(tmp_path: Path) -> None:
    write(tmp_path / "p0", PROXY_EVENTS, [traffic(1, True), {"event": "started", "monotonic": 30}])
    write(tmp_path / "p0", LOCK_AUDIT, [{"event": "deactivate", "monotonic": 3.5, "proxy_gone": True}])
    write(tmp_path / "p1", PROXY_EVENTS, [traffic(4, True)])
    report = audit({"p0": tmp_path / "p0", "p1": tmp_path / "p1"})
    assert report.ok, report.describe()
    write(tmp_path / "p0", LOCK_AUDIT, [])  # without that proof the interval runs to the restart
    assert not audit({"p0": tmp_path / "p0", "p1": tmp_path / "p1"}).ok


def test_a_restarted_proxys_first_event_closes_the_dead_ones_interval_at_its_death(tmp_path: Path) -> None:
    """A killed proxy logs nothing; its successor's start-up traffic event (``at_start``) must
    not be read as the old process disabling traffic at that late moment."""
    write(tmp_path / "p0", PROXY_EVENTS, [traffic(10.0, True), {**traffic(30.0, False), "at_start": True}])
    write(tmp_path / "p0", LOCK_AUDIT, [{"monotonic": 12.5, "proxy_gone": True}])
    write(tmp_path / "p1", PROXY_EVENTS, [traffic(14.0, True)])
    write(tmp_path / "p1", LOCK_AUDIT, [])
    report = audit({"proxy/0": tmp_path / "p0", "proxy/1": tmp_path / "p1"})
    first = report.proxy_intervals[0]
    assert (first.instance, first.end, first.ended_by) == ("proxy/0", 12.5, "proxy gone")
    assert report.ok
