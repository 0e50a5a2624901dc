"""bench.partition's measurement, end to end on the shared lab: one scenario, one short run."""

from __future__ import annotations

import math

import pytest

from cf_mysql_consul_tools.benchmarks import partition
from cf_mysql_consul_tools.lab import Lab

pytestmark = pytest.mark.integration


def test_the_holder_cut_off_from_everything_is_measured_and_stays_safe(lab: Lab) -> None:
    partition.restore(lab, None, print)
    run = partition.measure(lab, partition.scenario("holder-isolated"), None, hold_s=5, log=print)
    print(run)
    assert run.fault.startswith("partition proxy/")
    assert run.acknowledged > 100
    # The holder lost Consul and its peers: the DNS client saw an outage, and it ended.
    assert 0.5 < run.outage_s < 60
    # Safety, whatever the availability: never two proxies serving, no acknowledged write lost.
    assert (run.overlap_ms_acks, run.overlap_ms_events, run.overlap_ms_health) == (0, 0, 0), run.overlaps
    assert run.lost_writes == 0
    assert run.rearm_s is None or run.rearm_s >= 0
    assert lab.partitions() == []
    row = partition.results_json([run])["scenarios"]["holder-isolated"]
    assert set(row) == {"outage_s", "target_s", "overlap_ms", "lost_writes", "rearm_s"}
    assert math.isclose(row["outage_s"], run.outage_s) and row["target_s"] == 6.0
