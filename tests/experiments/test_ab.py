"""experiment.run --ops and experiment.ab: the lab's manifest gets the ops files; the A/B table reads both runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cf_mysql_consul_tools.bosh.ops import OpsError
from cf_mysql_consul_tools.experiments import compare, runner, spec
from cf_mysql_consul_tools.tasks.bosh import ops_path
from tests.invoke_tasks import run_task


def _mysql_jobs(manifest: dict[str, object]) -> dict[str, dict[str, object]]:
    group = next(g for g in manifest["instance_groups"] if g["name"] == "mysql")  # type: ignore[attr-defined]
    return {j["name"]: j for j in group["jobs"]}


def test_ops_files_patch_the_lab_manifest_after_the_definitions_own_operations() -> None:
    exp4 = spec.load("exp4")
    as_defined = _mysql_jobs(runner.lab_manifest(exp4))
    assert "galera-drain" in as_defined
    assert as_defined["mysql"]["properties"]["cf_mysql"]["mysql"]["database_startup_timeout"] == 40  # type: ignore[index]
    without = _mysql_jobs(runner.lab_manifest(exp4, [ops_path("no-galera-drain")]))
    assert set(without) == {"mysql", "consul_agent"}


def test_an_ops_file_that_does_not_apply_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("- {type: remove, path: /instance_groups/name=nope}\n")
    with pytest.raises(OpsError, match=r"bad\.yml"):
        runner.lab_manifest(spec.load("exp2"), [bad])
    code, out, err = run_task("experiment.run", "exp2", "--ops", str(bad))
    assert code == 2 and "bad.yml" in err and "Traceback" not in out + err
    code, _, err = run_task("experiment.ab", "exp4")
    assert code == 2 and "--ops" in err


def test_a_rolling_deploys_downtime_is_parsed_checked_and_scaled() -> None:
    exp4 = spec.load("exp4")
    assert exp4.faults[0].downtime_seconds == 60
    assert spec.scaled(exp4, 0.5).faults[0].downtime_seconds == 30
    assert spec.scaled(exp4, 2).faults[0].downtime_seconds == 60
    raw = {"name": "x", "faults": [{"at": {"inserted": 1}, "action": "kill", "target": "mysql/0",
                                    "downtime_seconds": 5}]}
    with pytest.raises(spec.SpecError, match="downtime_seconds belongs to a rolling_deploy"):
        spec.parse(raw)


def _run_dir(base: Path, *, status: str, ops: list[str], deploy_ok: bool, starts: dict[str, int]) -> Path:
    base.mkdir(parents=True)
    (base / "run.json").write_text(json.dumps({
        "experiment": "exp4", "ops": ops, "config": {"desired_lrps": 50000, "error_tolerance": 0.05},
        "metrics": {"SeedDesireLRP": {"summary": {"average": 0.02, "slowest": 1.0, "errors": 3, "error_rate": 0.01,
                                                  "count": 300}}},
        "mysqld": {"starts": starts, "start_timeouts": {k: max(v - 1, 0) for k, v in starts.items()}}}))
    (base / "verdict.json").write_text(json.dumps({
        "experiment": "exp4", "status": status, "summary": "s", "figures": {"actual_lrp_error_rate": 0.0},
        "faults": [{"id": "deploy", "ok": deploy_ok, "seconds": 95.4,
                    "detail": "" if deploy_ok else "'mysql/0' is not running after update"}],
        "checks": [{"name": "acknowledged writes on every node", "ok": True, "detail": "50000 present", "data": {}},
                   {"name": "every node rejoined and Synced", "ok": True, "detail": "", "data": {}}]}))
    return base


def test_the_ab_table_sets_both_sides_figure_by_figure(tmp_path: Path) -> None:
    a = compare.load_run(_run_dir(tmp_path / "A", status="FAILED", ops=["no-galera-drain"], deploy_ok=False,
                                  starts={"mysql/0": 3, "mysql/1": 0}))
    b = compare.load_run(_run_dir(tmp_path / "B", status="PASSED", ops=[], deploy_ok=True,
                                  starts={"mysql/0": 1, "mysql/1": 1}))
    rows = {what: (x, y) for what, x, y in compare.ab_rows(a, b)}
    assert rows["verdict"] == ("FAILED", "PASSED")
    assert rows["ops files"] == ("no-galera-drain", "none (as defined)")
    assert rows["faults (a rolling deploy: its outcome)"][0].startswith("deploy: FAILED in 95 s ('mysql/0' is not")
    assert rows["mysqld starts per node"] == ("mysql/0: 3, mysql/1: 0", "mysql/0: 1, mysql/1: 1")
    assert rows["start timeouts per node"][0] == "mysql/0: 2, mysql/1: 0"
    assert rows["lost writes"] == ("none", "none")
    assert rows["highest error rate"] == ("0.0100 (desire LRP)", "0.0100 (desire LRP)")
    text = compare.markdown_ab("exp4", a, b, labels=("A", "B"))
    assert text.splitlines()[0] == "| exp4 | A | B |" and "| verdict | FAILED | PASSED |" in text
