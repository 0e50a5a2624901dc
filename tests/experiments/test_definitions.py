"""Fast tests: the definitions load and scale, ops files apply, the verdict is a pure function."""

from __future__ import annotations

from pathlib import Path

import pytest

from cf_mysql_consul.benchmark_bbs.metrics import summarize
from cf_mysql_consul_tools.bosh.ops import apply_ops
from cf_mysql_consul_tools.experiments import spec
from cf_mysql_consul_tools.experiments.audit import Check
from cf_mysql_consul_tools.experiments.faults import FaultRecord
from cf_mysql_consul_tools.experiments.verdict import decide


def test_every_definition_loads_and_the_seed_five_are_there() -> None:
    names = spec.names()
    assert {"exp1", "exp2", "exp3", "exp4", "exp5", "hung-master", "proxy-vm-loss"} <= set(names)
    for name in names:
        d = spec.load(name)
        assert d.workload["desired_lrps"] == 50000 and d.faults
    assert spec.load("exp5").workload["percent_writes"] == 8
    assert spec.load("exp4").needs_rolling_deploy and not spec.load("exp2").needs_rolling_deploy


def test_scale_moves_lrps_and_fault_points() -> None:
    exp1 = spec.scaled(spec.load("exp1"), 0.04)
    assert exp1.workload["desired_lrps"] == 2000
    assert [f.inserted for f in exp1.faults] == [800, 1200]
    exp5 = spec.scaled(spec.load("exp5"), 0.1)
    assert exp5.faults[0].measurement_seconds == 2 and exp5.faults[0].inserted is None


def test_bad_definitions_name_the_field() -> None:
    with pytest.raises(spec.SpecError, match=r"faults\[0\].action"):
        spec.parse({"name": "x", "faults": [{"action": "explode", "at": {"inserted": 1}}]})
    with pytest.raises(spec.SpecError, match="earlier fault"):
        spec.parse({"name": "x", "faults": [{"action": "start", "target": "nothing", "at": {"inserted": 1}}]})
    with pytest.raises(spec.SpecError, match="exactly one"):
        spec.parse({"name": "x", "faults": [{"action": "kill", "target": "mysql/0", "at": {}}]})


def test_topology_ops_are_go_patch_operations_checked_when_the_definition_loads() -> None:
    manifest = {"instance_groups": [{"name": "proxy", "instances": 2,
                                     "jobs": [{"name": "proxy"}, {"name": "consul-lock"}]}]}
    exp = spec.parse({"name": "x", "topology": {"ops": [
        {"type": "remove", "path": "/instance_groups/name=proxy/jobs/name=consul-lock?"},
        {"type": "remove", "path": "/instance_groups/name=proxy/jobs/name=absent?"},
        {"type": "replace", "path": "/instance_groups/name=proxy/instances", "value": 3},
        {"type": "replace", "path": "/instance_groups/name=proxy/jobs/-", "value": {"name": "x"}}]}})
    out = apply_ops(manifest, exp.topology.ops)
    assert out["instance_groups"][0] == {"name": "proxy", "jobs": [{"name": "proxy"}, {"name": "x"}], "instances": 3}
    assert len(manifest["instance_groups"][0]["jobs"]) == 2  # the input is untouched
    with pytest.raises(spec.SpecError, match=r"x.yml: topology.ops: Remove operation \[0\]: Cannot specify value"):
        spec.parse({"name": "x", "topology": {"ops": [{"type": "remove", "path": "/a", "value": 1}]}},
                   Path("x.yml"))


def fault(ok: bool = True) -> FaultRecord:
    return FaultRecord("kill", "kill", "mysql/0", "mysql.mariadbd", "at 800 inserted LRPs", ok=ok)


def test_verdict_passes_only_when_every_check_holds() -> None:
    good = [summarize("SeedStartActualLRP", [0.01] * 99, 1), summarize("RepStartActualLRP", [0.02, 3.0], 0)]
    audits = [Check("table checksums equal", True, "equal on 2 nodes")]
    verdict = decide(good, 0.05, [fault(), fault()], audits, spec.Expect(), planned_faults=2)
    assert verdict.status == "PASSED" and verdict.figures["slowest"] == 3.0
    assert decide(good, 0.05, [fault()], audits, spec.Expect(), planned_faults=2).status == "FAILED"
    assert decide(good, 0.05, [fault(), fault(ok=False)], audits, spec.Expect(), planned_faults=2).status == "FAILED"
    slow = decide(good, 0.05, [fault(), fault()], audits, spec.Expect(max_op_seconds=1.0), planned_faults=2)
    assert slow.status == "FAILED" and "slowest operation" in slow.summary
    bad_audit = decide(good, 0.05, [fault(), fault()], [Check("x", False, "lost")], spec.Expect(), planned_faults=2)
    assert bad_audit.status == "FAILED" and "x: lost" in bad_audit.summary
    errors = [summarize("SeedStartActualLRP", [0.01] * 94, 6)]
    failed = decide(errors, 0.05, [], [], spec.Expect(), planned_faults=0)
    assert failed.status == "FAILED" and "Error rate of 0.060 for actuals exceeds tolerance of 0.050" in failed.summary


def test_an_owned_labs_logs_are_kept_in_the_run_directory(tmp_path: Path) -> None:
    from cf_mysql_consul_tools.lab import Lab

    lab = Lab.from_manifest(root=tmp_path / "lab")
    proxy = lab.instance("proxy/0")
    log_dir = lab.instance_dir(proxy) / "sys" / "log" / "proxy"
    log_dir.mkdir(parents=True)
    (log_dir / "events.jsonl").write_text('{"event": "traffic"}\n')
    kept = lab.copy_logs(tmp_path / "run" / "logs")
    assert (kept / proxy.slug / "proxy" / "events.jsonl").read_text() == '{"event": "traffic"}\n'
    assert [p.name for p in kept.iterdir()] == [proxy.slug]  # instances without logs add nothing


def test_compare_markdown_puts_each_run_beside_the_seed() -> None:
    from cf_mysql_consul_tools.experiments.compare import markdown_metrics, markdown_summary

    def metric(avg: float, slowest: float, errors: int = 0) -> dict[str, object]:
        return {"summary": {"average": avg, "slowest": slowest, "errors": errors, "error_rate": errors / 100,
                            "count": 100}}

    run = {"experiment": "exp2", "status": "PASSED", "dir": "x", "figures": {"actual_lrp_error_rate": 0.0002},
           "throughput": {"through_proxy": 150.0, "direct_to_node": 180.0}, "seeding_lrps_per_second": 140.0,
           "metrics": {"RepStartActualLRP": metric(0.02, 1.9, errors=3), "ConvergenceGathering": metric(9.0, 9.0)}}
    summary = markdown_summary([run]).splitlines()
    assert summary[2] == ("| exp2 | PASSED (passed) | 0.0002 (0.000) | 1.90 s (start actual LRP) "
                          "| 9.0 s (BBS' internal gathering of LRPs) (5.6 s) | 140 / 150 / 180 |")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in markdown_metrics([run]).splitlines()}
    assert rows["start actual LRP"] == "| start actual LRP | 0.020 / 1.90, 3 failed | 0.292 / 30.60 | 0.168 / 4.64 |"
    assert rows["desire LRP"].startswith("| desire LRP | - |")


def test_partition_and_heal_faults_parse_with_both_sides() -> None:
    d = spec.parse({"name": "x", "faults": [
        {"id": "cut", "action": "partition", "target": "active_proxy_vm", "from": ["consul"], "at": {"inserted": 5}},
        {"id": "cut2", "action": "partition", "target": "mysql/0", "from": "mysql/1, arbitrator",
         "at": {"inserted": 6}},
        {"id": "leader", "action": "kill", "target": "consul_leader", "at": {"inserted": 7}},
        {"action": "heal", "at": {"inserted": 8}}]})
    assert [(f.action, f.target, f.cut_from) for f in d.faults] == [
        ("partition", "active_proxy_vm", ("consul",)), ("partition", "mysql/0", ("mysql/1", "arbitrator")),
        ("kill", "consul_leader", ()), ("heal", "", ())]
    with pytest.raises(spec.SpecError, match=r"faults\[0\].target names the instances to cut off"):
        spec.parse({"name": "x", "faults": [{"action": "partition", "from": ["consul"], "at": {"inserted": 1}}]})
    with pytest.raises(spec.SpecError, match=r"faults\[0\].from belongs to a partition"):
        spec.parse({"name": "x", "faults": [{"action": "kill", "target": "mysql/0", "from": ["consul"],
                                             "at": {"inserted": 1}}]})
