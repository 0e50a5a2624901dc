"""The campaign's verdict and report from synthetic results (no lab): safety fails, availability is reported."""

from __future__ import annotations

import json
from pathlib import Path

from cf_mysql_consul_tools.chaos.campaign import Campaign, StepResult, Violation
from cf_mysql_consul_tools.chaos.report import write_report
from cf_mysql_consul_tools.chaos.schedule import Step

STEP = Step(1, "partition", "proxy/0", "consul", 7.5, 12.0, 30.0)
TOTALS = {"acknowledged_writes": 900, "lost_writes": 0, "overlap_ms": {"writes": 0.0, "events": 0.0, "health": 0.0},
          "longest_outage_s": 22.5, "overlaps": []}


def campaign(*violations: Violation, aborted: str = "") -> Campaign:
    result = StepResult(STEP, done="partition proxy/0 | consul/0, consul/1, consul/2", started_s=7.6, undone_s=19.7,
                        recovered_s=41.0, outage_s=22.5, overlap_ms={"writes": 0.0, "events": 0.0, "health": 0.0})
    return Campaign(3, 1.0, ("partition",), [STEP], [result], list(violations), {} if aborted else TOTALS, 60.0,
                    aborted)


def test_availability_misses_are_reported_but_only_safety_fails() -> None:
    miss = Violation(1, "recovered within its bound", False, "recovered after 41.0 s (bound 30 s)")
    assert campaign(miss).ok and campaign(miss).verdict == "PASSED; 1 availability miss(es) reported"
    unsafe = campaign(miss, Violation(1, "never two proxies serving", True, "proxy/0 & proxy/1: 120 ms"))
    assert not unsafe.ok and unsafe.verdict.startswith("FAILED: 1 safety violation(s)")
    stopped = campaign(aborted="WaitTimeout: the tier did not come back")
    assert not stopped.ok and stopped.verdict.startswith("ABORTED: WaitTimeout")


def test_the_report_holds_the_schedule_the_steps_and_the_violations(tmp_path: Path) -> None:
    miss = Violation(1, "recovered within its bound", False, "recovered after 41.0 s (bound 30 s)")
    files = write_report(campaign(miss), tmp_path)
    data = json.loads(files["json"].read_text())
    assert data["schedule"] == [STEP.to_json()] and data["steps"][0]["step"] == 1
    assert data["violations"][0]["invariant"] == "recovered within its bound"
    html = files["html"].read_text()
    assert "PASSED; 1 availability miss(es) reported" in html and "partition proxy/0 | consul" in html
    assert "recovered after 41.0 s (bound 30 s)" in html
    aborted = write_report(campaign(aborted="lab gone"), tmp_path / "aborted")["html"].read_text()
    assert "No final audit" in aborted and "lab gone" in aborted
