"""A short chaos campaign on the shared lab, as CI runs it: bounded to about two minutes of faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cf_mysql_consul_tools.chaos.campaign import run_campaign
from cf_mysql_consul_tools.chaos.report import write_report
from cf_mysql_consul_tools.chaos.schedule import make_schedule
from cf_mysql_consul_tools.lab import Lab

pytestmark = pytest.mark.integration
SEED = 7
KINDS = ("kill", "pause", "partition", "consul_leader")  # a rolling deploy does not fit in 2 min


def test_a_short_campaign_keeps_every_safety_invariant_and_reports(lab: Lab, tmp_path: Path) -> None:
    campaign = run_campaign(lab, seed=SEED, minutes=2, kinds=KINDS)
    files = write_report(campaign, tmp_path)
    data = json.loads(files["json"].read_text())
    instances = [(i.name, i.group) for i in lab.deployment.instances]
    assert data["schedule"] == [s.to_json() for s in make_schedule(SEED, 2, instances, KINDS)]  # replayable
    ran = [r for r in campaign.results if not r.skipped]
    assert ran and all(r.done and not r.error for r in ran), [(r.done, r.error) for r in ran]
    assert campaign.totals["acknowledged_writes"] > 500
    assert campaign.ok, [v for v in campaign.violations if v.safety]
    assert data["totals"]["lost_writes"] == 0
    assert "id=\"verdict\"" in files["html"].read_text() and campaign.verdict.startswith("PASSED")
    assert lab.partitions() == []
    for v in campaign.violations:
        print(f"reported: {v}")
