"""The lint's tables agree with the release: every plausible range is about a declared property and
holds its default, and every config a job renders goes through a start check."""

from __future__ import annotations

from pathlib import Path

import pytest

from cf_mysql_consul_tools.bosh.jobspec import load_job_spec
from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.release.property_checks import PLAUSIBLE, implausible, unknown_properties
from cf_mysql_consul_tools.release.start_checks import START_CHECKS, start_refusal

JOBS = sorted(p for p in (REPO_ROOT / "jobs").iterdir() if (p / "spec").is_file())


@pytest.mark.parametrize("job", [p.name for p in JOBS])
def test_every_plausible_range_names_a_declared_property_and_holds_its_default(job: str) -> None:
    spec = load_job_spec(REPO_ROOT / "jobs" / job)
    for name, rule in PLAUSIBLE.get(job, {}).items():
        assert name in spec.properties, f"{job}: PLAUSIBLE names '{name}', which the spec does not declare"
        default = spec.properties[name]["default"]
        assert rule.low <= default <= rule.high, f"{job}: the default of '{name}' ({default}) is implausible"
    assert implausible(spec, {}) == []


def test_the_tables_name_only_jobs_of_the_release() -> None:
    names = {p.name for p in JOBS}
    assert set(PLAUSIBLE) <= names and set(START_CHECKS) <= names


@pytest.mark.parametrize("job", [p.name for p in JOBS])
def test_every_config_a_job_renders_goes_through_its_start_check(job: str) -> None:
    spec = load_job_spec(REPO_ROOT / "jobs" / job)
    configs = {dest for dest in spec.templates.values() if dest.startswith("config/") and dest != "config/bpm.yml"}
    checked = {START_CHECKS[job].config} if job in START_CHECKS else set()
    assert configs == checked, f"{job} renders {configs}; START_CHECKS checks {checked}"


def test_unknown_properties_are_found_at_any_depth_with_the_closest_name() -> None:
    spec = load_job_spec(REPO_ROOT / "jobs" / "galera-drain")
    given = {"galera_drain": {"max_wait_seconds": 60, "max_wiat_seconds": 60,
                              "mysql": {"socket": "/s", "sockt": "/s"},
                              "pre_start": {"mysqld_argv": ["a", "b"]},  # a declared list: not walked into
                              "switchover": {"enabled": True, "flavour": {"x": 1}}},
             "galera_drian": {"quiet_seconds": 1}, "zzz": 1}
    assert unknown_properties(spec, given) == [
        ("galera_drain.max_wiat_seconds", "galera_drain.max_wait_seconds"),
        ("galera_drain.mysql.sockt", "galera_drain.mysql.socket"),
        ("galera_drain.switchover.flavour", None),
        ("galera_drian", "galera_drain"),
        ("zzz", None),
    ]


def test_a_declared_property_whose_value_is_a_map_is_not_walked_into() -> None:
    spec = load_job_spec(REPO_ROOT / "jobs" / "consul-lock")
    assert unknown_properties(spec, {"peer_api": {"password": "x", "port": 8090}}) == []
    assert unknown_properties(spec, {"peer_api": {"pasword": "x"}}) == [("peer_api.pasword", "peer_api.password")]


def test_implausible_values_say_the_range_and_why_and_skip_non_numbers() -> None:
    spec = load_job_spec(REPO_ROOT / "jobs" / "proxy")
    [(name, line)] = implausible(spec, {"healthcheck_timeout_millis": 600000, "healthcheck_rise": "many",
                                        "startup_delay": True})
    assert name == "healthcheck_timeout_millis"
    assert line.startswith("property 'healthcheck_timeout_millis' is 600000 ms, outside the plausible 100-10000 ms: ")


def test_start_refusal_runs_the_jobs_own_loader(tmp_path: Path) -> None:
    assert start_refusal("proxy", {"config/proxy.yml": '{"api_username": "a"}'}) == "property 'api_password' is missing"
    assert start_refusal("proxy", {}) is None  # not rendered: the render error is reported instead
    assert start_refusal("no-such-job", {"config/x.yml": "{}"}) is None
