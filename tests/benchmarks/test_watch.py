"""The figures of bench.partition and chaos.run from synthetic samples (no lab)."""

from __future__ import annotations

import math

from cf_mysql_consul_tools.benchmarks import partition
from cf_mysql_consul_tools.benchmarks.watch import ack_periods, longest_gap, overlap_ms
from cf_mysql_consul_tools.serving import Interval, Overlap, overlaps


def test_longest_gap_counts_from_the_last_write_before_the_fault_and_up_to_the_end() -> None:
    acks = [0.0, 0.5, 1.0, 4.0, 4.2, 5.0, 9.0]
    assert longest_gap(acks, since=1.2, until=6.0) == 3.0  # 1.0 -> 4.0 spans the fault at 1.2
    assert math.isclose(longest_gap(acks, since=5.5, until=12.0), 4.0)  # 5.0 -> 9.0
    assert longest_gap([0.0, 0.1], since=0.05, until=8.0) == 7.9  # never wrote again


def test_acknowledged_writes_make_periods_and_an_interleaving_is_an_overlap() -> None:
    handover = [(0.0, "proxy/0"), (0.1, "proxy/0"), (0.2, "proxy/0"), (3.0, "proxy/1"), (3.1, "proxy/1")]
    periods = ack_periods(handover)
    assert sorted((p.instance, p.start, p.end) for p in periods) == [("proxy/0", 0.0, 0.2), ("proxy/1", 3.0, 3.1)]
    assert overlaps(periods) == []
    both = [(0.0, "proxy/0"), (0.1, "proxy/1"), (0.2, "proxy/0"), (0.3, "proxy/1")]
    found = overlaps(ack_periods(both))
    assert len(found) == 1 and math.isclose(overlap_ms(found), 100.0)  # both served from 0.1 to 0.2


def test_an_overlap_seen_at_one_instant_counts_one_ms_and_an_open_one_is_infinite() -> None:
    a, b = Interval("proxy/0", 0.0, 1.0), Interval("proxy/1", 0.5, 0.5)
    assert overlap_ms([Overlap(a, b, 0.5, 0.5)]) == 1.0
    assert overlap_ms([Overlap(a, Interval("proxy/1", 0.5, math.inf), 0.5, math.inf)]) == math.inf
    assert overlap_ms([]) == 0.0


def run(system: str, name: str, outage: float, rearm: float | None, overlap: float = 0.0) -> partition.Run:
    return partition.Run(system, name, outage, overlap, overlap, 0.0, 0.0, 0, rearm, 100, "partition ...")


def test_the_json_has_exactly_the_issue_shape_with_medians_and_stock_beside() -> None:
    runs = [run(partition.OURS, "holder-isolated", 5.0, 1.0), run(partition.OURS, "holder-isolated", 7.0, 2.0),
            run(partition.OURS, "holder-isolated", 6.0, None, overlap=math.inf),
            run(partition.STOCK, "holder-isolated", 20.0, None)]
    data = partition.results_json(runs)
    assert set(data) == {"scenarios"}
    assert data["scenarios"]["holder-isolated"] == {"outage_s": 6.0, "target_s": 6.0, "overlap_ms": None,
                                                    "lost_writes": 0, "rearm_s": None}
    assert data["scenarios"]["stock-consul-lock/holder-isolated"]["outage_s"] == 20.0


def test_scenarios_are_named_as_the_issue_table_and_unknown_ones_are_refused() -> None:
    names = [s.name for s in partition.SCENARIOS]
    assert names == ["holder-cut-from-consul", "consul-unreachable-30s", "consul-unreachable-300s",
                     "raft-leader-killed", "holder-isolated", "galera-node-isolated"]
    assert [s.name for s in partition.SCENARIOS if s.long] == ["consul-unreachable-300s"]
    try:
        partition.scenario("nope")
    except ValueError as exc:
        assert "holder-isolated" in str(exc)
    else:
        raise AssertionError("an unknown scenario was accepted")
