"""Fast tests of the pure parts: config, error kinds, payloads, metrics checks, the errand's templates."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from cf_mysql_consul.benchmark_bbs import payloads
from cf_mysql_consul.benchmark_bbs.__main__ import resolver_for
from cf_mysql_consul.benchmark_bbs.config import BenchmarkConfig, ConfigError, from_mapping, load_config
from cf_mysql_consul.benchmark_bbs.errors import classify
from cf_mysql_consul.benchmark_bbs.metrics import actual_lrp_error_rate, error_rate_failures, summarize
from cf_mysql_consul.benchmark_bbs.resolve import ConsulDnsResolver, FixedResolver, ResolveError, SystemResolver
from cf_mysql_consul_tools.bosh.render import InstanceSpec, Link, LinkInstance, RenderError, render_job

JOB = Path(__file__).resolve().parents[2] / "jobs" / "benchmark-bbs"


def test_benchmark_bbs_keys_and_go_dsn() -> None:
    config = from_mapping({"desired_lrps": 50000, "num_trials": 1, "percent_writes": 8, "error_tolerance": 0.05,
                           "database_connection_string": "diego:secret@tcp(10.244.7.2:3306)/diego",
                           "aws_bucket_name": "unused"})
    assert (config.database_username, config.database_password) == ("diego", "secret")
    assert config.database_addresses == ("10.244.7.2:3306",) and config.database_name == "diego"
    assert config.extra == {"aws_bucket_name": "unused"} and config.attempts == 3
    assert from_mapping({"no_retry": True}).attempts == 1
    with pytest.raises(ConfigError, match="error_tolerance"):
        from_mapping({"error_tolerance": 5})
    with pytest.raises(ConfigError, match="database_connection_string"):
        from_mapping({"database_connection_string": "not a dsn"})


@pytest.mark.parametrize(("exc", "connecting", "kind", "retryable"), [
    (pymysql.err.OperationalError(1213, "Deadlock found"), False, "deadlock", True),
    (pymysql.err.OperationalError(1047, "WSREP has not yet prepared node"), False, "not_ready", True),
    (pymysql.err.OperationalError(2013, "Lost connection"), False, "lost_connection", True),
    (pymysql.err.OperationalError(2006, "gone away"), False, "lost_connection", True),
    (pymysql.err.OperationalError(2003, "Can't connect"), True, "connect", True),
    (pymysql.err.OperationalError(1105, "proxy/1 is a standby"), True, "refused", True),
    (pymysql.err.IntegrityError(1062, "Duplicate entry"), False, "exists", False),
    (pymysql.err.InterfaceError(0, ""), False, "lost_connection", True),
    (ConnectionRefusedError(), True, "connect", True),
    (TimeoutError(), False, "lost_connection", True),
    (pymysql.err.ProgrammingError(1064, "syntax"), False, "other", False),
])
def test_error_kinds_follow_bbs(exc: Exception, connecting: bool, kind: str, retryable: bool) -> None:
    error = classify(exc, connecting=connecting)
    assert (error.kind, error.retryable) == (kind, retryable)


def test_payloads_have_bbs_sizes_and_decode() -> None:
    guid = "BENCHMARK-BBS-GUID-000042"
    run_info, routes = payloads.encode(payloads.run_info(guid)), payloads.encode(payloads.routes(guid))
    assert run_info.startswith("01") and 1800 <= len(run_info) <= 3500
    assert 1200 <= len(routes) <= 2500
    assert payloads.decode(payloads.encode(payloads.net_info())) == payloads.net_info()
    assert payloads.encode(payloads.run_info(guid)) == run_info  # deterministic


def test_error_rate_checks_use_benchmark_bbs_messages() -> None:
    summaries = [summarize("SeedDesireLRP", [0.01] * 100, 0), summarize("SeedStartActualLRP", [0.01] * 94, 6),
                 summarize("RepStartActualLRP", [0.01] * 99, 1)]
    assert error_rate_failures(summaries, 0.05) == ["Error rate of 0.060 for actuals exceeds tolerance of 0.050"]
    assert actual_lrp_error_rate(summaries) == pytest.approx(7 / 200)


LOCK_LINK = Link(instances=(LinkInstance("proxy", 0, "p0", "10.0.0.4"),),
                 properties={"service_name": "mysql", "consul_domain": "cf.internal"})


def render(tmp_path: Path, links: dict[str, Link] | None = None, **props: object) -> Path:
    instance = InstanceSpec(deployment="cf-mysql", name="benchmark-bbs", index=0, id="b0", address="10.0.0.9",
                            ip="10.0.0.9")
    render_job(JOB, instance=instance, properties={"benchmark-bbs": props}, links=links, out_dir=tmp_path)
    return tmp_path


def rendered_config(out: Path) -> BenchmarkConfig:
    return load_config(out / "config" / "benchmark-bbs.json")


def test_errand_renders_a_config_the_program_accepts(tmp_path: Path) -> None:
    out = render(tmp_path, database_connection_string="diego:pw@tcp(10.0.0.5:3306)/diego", desired_lrps=50000,
                 retry_delay_millis=250, log_level="debug")
    config = rendered_config(out)
    assert (config.desired_lrps, config.num_trials, config.retry_delay_seconds) == (50000, 10, 0.25)
    script = (out / "bin" / "run").read_text()
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    assert "exec /var/vcap/packages/cf-mysql-consul/bin/python -m cf_mysql_consul.benchmark_bbs" in script
    assert "--log-level debug" in script
    assert (out / "bin" / "run").stat().st_mode & 0o111


def test_errand_finds_the_proxy_by_the_name_the_consul_lock_link_gives(tmp_path: Path) -> None:
    """With the link: <service_name>.service.<consul_domain> through the VM's own resolver, the DSN's port."""
    config = rendered_config(render(tmp_path, links={"consul-lock": LOCK_LINK},
                                    database_connection_string="diego:pw@tcp(ignored:6033)/diego"))
    resolver = resolver_for(config)
    assert isinstance(resolver, SystemResolver)
    assert (resolver.name, resolver.port) == ("mysql.service.cf.internal", 6033)


def test_errand_without_a_link_uses_the_dsn_or_the_names_it_is_given(tmp_path: Path) -> None:
    fixed = resolver_for(rendered_config(render(tmp_path / "a", database_connection_string="u:p@tcp(10.0.0.5:3306)/d")))
    assert isinstance(fixed, FixedResolver) and fixed.candidates() == [("10.0.0.5", 3306)]
    direct = resolver_for(rendered_config(render(tmp_path / "b", links={"consul-lock": LOCK_LINK},
                                                 database_connection_string="u:p@tcp(h:3306)/d",
                                                 consul_service="db.service.consul", consul_dns="127.0.0.1:8600")))
    assert isinstance(direct, ConsulDnsResolver)
    assert (direct.service, direct.server, direct.port) == ("db.service.consul", "127.0.0.1", 8600)


def test_the_system_resolver_answers_like_the_vm_does() -> None:
    """localhost through this machine's resolver; a name nobody answers is a ResolveError naming it."""
    assert SystemResolver("localhost", 3306).candidates() == [("127.0.0.1", 3306)]
    with pytest.raises(ResolveError, match=r"no-such-name\.invalid through this VM.s resolver"):
        SystemResolver("no-such-name.invalid").candidates()


def test_errand_refuses_what_it_reads_itself_at_render_time(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"benchmark-bbs\.database_connection_string"):
        render(tmp_path)
    with pytest.raises(RenderError, match=r"benchmark-bbs\.retry_delay_millis' must be a number"):
        render(tmp_path, database_connection_string="a:b@tcp(h:1)/d", retry_delay_millis=-1)


@pytest.mark.parametrize(("props", "says"), [
    ({"error_tolerance": 5}, "benchmark-bbs.error_tolerance must be a fraction between 0 and 1"),
    ({"database_connection_string": "not a dsn"}, "benchmark-bbs.database_connection_string 'not a dsn' is not"),
    ({"desired_lrps": "many"}, "benchmark-bbs.desired_lrps must be a whole number, got 'many'"),
    ({"num_trials": 0}, "benchmark-bbs.num_trials must be at least 1"),
    ({"no_retry": "yes"}, "benchmark-bbs.no_retry must be true or false"),
])
def test_the_errands_config_check_names_the_property(tmp_path: Path, props: dict[str, object], says: str) -> None:
    """What the errand's program refuses when it starts (and release.lint on every rendered config)."""
    out = render(tmp_path, **{"database_connection_string": "a:b@tcp(h:1)/d", **props})
    with pytest.raises(ConfigError) as refused:
        load_config(out / "config" / "benchmark-bbs.json")
    assert says in str(refused.value)


def test_a_pool_pickles_as_its_settings_for_a_component_process() -> None:
    import pickle

    from cf_mysql_consul.benchmark_bbs.client import Pool
    from cf_mysql_consul.benchmark_bbs.resolve import ConsulDnsResolver

    pool = Pool(ConsulDnsResolver("127.0.0.9:8600"), user="u", password="p", database="d", max_open=7,
                attempts=2, retry_delay=0.25, connect_timeout=3.0, read_timeout=9.0)
    pool._idle.append(object())  # type: ignore[arg-type]  # stands for an open connection: must not travel
    copy = pickle.loads(pickle.dumps(pool))
    assert (copy.user, copy.password, copy.database, copy.attempts, copy.retry_delay) == ("u", "p", "d", 2, 0.25)
    assert (copy.connect_timeout, copy.read_timeout) == (3.0, 9.0)
    assert copy.resolver.describe() == "consul dns mysql.service.consul @127.0.0.9:8600"
    assert copy.max_open == 7 and copy._idle == [] and copy.opened == 0
