"""``./inv release.lint --manifest M -o OPS...``: an operator's own deployment, linted as a deploy would
find it. Each case is one mistake in an ops file over the release's manifest, run through the task
in-process: what it prints and its exit code (1: the lint found errors; 2: the input is not a
deployment at all; 0: only notes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from tests.invoke_tasks import run_task

MANIFEST = REPO_ROOT / "manifests" / "cf-mysql-consul.yml"
LOCK = "/instance_groups/name=proxy/jobs/name=consul-lock/properties"
PROXY = "/instance_groups/name=proxy/jobs/name=proxy/properties"
DRAIN = "/instance_groups/name=mysql/jobs/name=galera-drain/properties/galera_drain"
ERRAND = "/instance_groups/name=benchmark-bbs/jobs/name=benchmark-bbs/properties/benchmark-bbs"


def replace(path: str, value: object) -> dict[str, object]:
    return {"type": "replace", "path": path, "value": value}


def ops_file(tmp_path: Path, *operations: dict[str, object]) -> str:
    path = tmp_path / "ops.yml"
    path.write_text(yaml.safe_dump(list(operations)))
    return str(path)


def lint(*args: str) -> tuple[int, str]:
    code, out, err = run_task("release.lint", *args)
    assert "Traceback" not in out + err
    return code, out + err


@pytest.mark.parametrize(("operation", "says"), [
    (replace(f"{LOCK}/lock_delay_seconds?", 1), "property 'lock_delay_seconds' (1) must be longer than"),
    (replace(f"{LOCK}/renew_interval_seconds?", 0), "property 'renew_interval_seconds' must be > 0"),
    (replace(f"{LOCK}/heartbeat_ttl_seconds?", -5), "property 'heartbeat_ttl_seconds' must be > 0"),
    (replace(f"{LOCK}/consul_agent_address?", "not an ip"), "property 'consul_agent_address' must be an IP address"),
    (replace(f"{PROXY}/shutdown_delay", 30), "property 'shutdown_delay' must be at most 15"),
    (replace(f"{PROXY}/health_strategy", "tcp"), "property 'health_strategy' must be one of"),
    (replace(f"{DRAIN}/quiet_seconds?", 700), "'galera_drain.quiet_seconds' (700) must be below"),
    (replace(f"{DRAIN}/max_wait_policy?", "later"), "property 'galera_drain.max_wait_policy' must be"),
    (replace(f"{ERRAND}/error_tolerance", 5), "benchmark-bbs.error_tolerance must be a fraction"),
])
def test_a_value_the_job_would_refuse_at_start_fails_the_lint(tmp_path: Path, operation: dict[str, object],
                                                              says: str) -> None:
    code, out = lint("-m", str(MANIFEST), "-o", ops_file(tmp_path, operation))
    assert code == 1, out
    assert "the job would refuse to start: " in out and says in out, out


def test_an_unknown_property_fails_the_lint_with_a_suggestion(tmp_path: Path) -> None:
    code, out = lint("-m", str(MANIFEST), "-o", ops_file(
        tmp_path, replace(f"{PROXY}/healthcheck_intervall_millis?", 500),
        replace(f"{DRAIN}/max_wiat_seconds?", 60), replace("/instance_groups/name=mysql/jobs/name=galera-drain"
                                                           "/properties/galera_drian?", {"quiet_seconds": 5})))
    assert code == 1, out
    assert ("job 'proxy': unknown property 'healthcheck_intervall_millis' (did you mean "
            "'healthcheck_interval_millis'?)") in out
    assert "unknown property 'galera_drain.max_wiat_seconds' (did you mean 'galera_drain.max_wait_seconds'?)" in out
    assert "unknown property 'galera_drian' (did you mean 'galera_drain'?)" in out


def test_an_implausible_value_is_a_note_saying_the_range_and_why(tmp_path: Path) -> None:
    code, out = lint("-m", str(MANIFEST), "-o", ops_file(tmp_path, replace(f"{PROXY}/healthcheck_timeout_millis?",
                                                                           600000)))
    assert code == 0, out
    assert ("property 'healthcheck_timeout_millis' is 600000 ms, outside the plausible 100-10000 ms: a hung or "
            "dead backend is noticed only after") in out
    assert "(note)" in out and "0 errors, 1 notes" in out


def test_a_refused_value_gets_no_note_besides(tmp_path: Path) -> None:
    code, out = lint("-m", str(MANIFEST), "-o", ops_file(tmp_path, replace(f"{LOCK}/heartbeat_ttl_seconds?", -5)))
    assert code == 1 and "outside the plausible" not in out, out


@pytest.mark.parametrize(("operation", "says"), [
    (replace("/instance_groups/name=proxy/instances", "two"),
     "instance group 'proxy': 'instances' must be a whole number, got 'two'"),
    ({"type": "remove", "path": "/instance_groups/name=proxy/networks"}, "instance group 'proxy': 'networks' is "
                                                                          "required"),
    (replace("/instance_groups/name=proxy/networks", "default"), "'networks' must be a list"),
    (replace("/instance_groups/name=nosuch/instances", 3), "Expected to find exactly one matching array item for "
                                                           "path '/instance_groups/name=nosuch'"),
    (replace(f"{PROXY}/api_password", "((undeclared_password))"), "Expected to find variables: undeclared_password"),
])
def test_a_manifest_that_is_no_deployment_exits_2_with_one_message(tmp_path: Path, operation: dict[str, object],
                                                                   says: str) -> None:
    code, out = lint("-m", str(MANIFEST), "-o", ops_file(tmp_path, operation))
    assert code == 2, out
    assert out.startswith("error: ") and says in out, out


def test_invalid_yaml_exits_2_naming_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "manifest.yml"
    broken.write_text("name: x\ninstance_groups: [unclosed\n")
    code, out = lint("-m", str(broken))
    assert code == 2 and f"manifest {broken} is not valid YAML: line 3, column 1" in out, out


def test_variables_come_from_flags_vars_files_and_a_vars_store(tmp_path: Path) -> None:
    ops = ops_file(tmp_path, replace(f"{PROXY}/api_password", "((my_password))"),
                   replace(f"{PROXY}/healthcheck_timeout_millis?", "((timeout))"))
    vars_file, store = tmp_path / "vars.yml", tmp_path / "store.yml"
    vars_file.write_text("my_password: from-file\ntimeout: 600000\n")
    store.write_text("my_password: from-store\ntimeout: 900\n")
    before = store.read_text()
    assert lint("-m", str(MANIFEST), "-o", ops, "-v", "my_password=x", "-v", "timeout=700")[0] == 0
    assert lint("-m", str(MANIFEST), "-o", ops, "--vars-store", str(store))[0] == 0
    assert store.read_text() == before, "the lint must not write the operator's vars store"
    code, out = lint("-m", str(MANIFEST), "-o", ops, "-l", str(vars_file))
    assert code == 0 and "is 600000 ms" in out, out  # -v values are YAML: the number, not the text
    code, out = lint("-m", str(MANIFEST), "-o", ops, "-l", str(vars_file), "-v", "timeout=800")
    assert code == 0 and "600000" not in out, out  # -v wins over -l, as in bosh


def test_the_ops_file_may_be_named_and_the_manifest_defaults_to_the_releases() -> None:
    code, out = lint("-o", "use-pxc-release")
    assert code == 0, out
    assert "manifests/cf-mysql-consul.yml + manifests/operations/use-pxc-release.yml: " in out
    assert "0 errors" in out
