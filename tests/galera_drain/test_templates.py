"""The galera-drain job renders with real Ruby ERB into a config the Python side loads; the config check
refuses bad values, naming the property."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cf_mysql_consul.galera_drain.config import ConfigError, load_config
from cf_mysql_consul_tools.bosh.render import InstanceSpec, Link, LinkInstance, RenderError, render_job

JOB = Path(__file__).resolve().parents[2] / "jobs" / "galera-drain"
INSTANCE = InstanceSpec(deployment="cf-mysql", name="mysql", index=1, id="m1", address="127.0.10.2", ip="127.0.10.2")
MYSQL = Link(instances=(LinkInstance("mysql", 0, "m0", "127.0.10.1"), LinkInstance("mysql", 1, "m1", "127.0.10.2")),
             properties={"port": 3306})
PROXY = Link(instances=(LinkInstance("proxy", 0, "p0", "127.0.10.4"),),
             properties={"api_port": 8080, "api_username": "admin", "api_password": "secret"})


def render(tmp_path: Path, links: dict[str, Link] | None = None, **props: Any) -> Path:
    render_job(JOB, instance=INSTANCE, properties={"galera_drain": props} if props else {},
               links=links if links is not None else {"mysql": MYSQL, "proxy": PROXY}, out_dir=tmp_path)
    return tmp_path


def test_rendered_config_loads(tmp_path: Path) -> None:
    out = render(tmp_path)
    config = load_config(out / "config" / "galera-drain.json")
    assert config.node_name == "mysql/1"
    assert [(p.name, p.healthcheck_url) for p in config.peers] == [("mysql/0", "http://127.0.10.1:9200/api/v1/status")]
    assert [(p.name, p.url, p.username) for p in config.proxies] == [("proxy/0", "http://127.0.10.4:8080", "admin")]
    assert config.drain.policy == "proceed" and config.post_start.timeout_seconds == 600
    assert config.catch_up.mode == "auto" and config.catch_up.mysqld_argv[0].endswith("/mysqld")
    assert config.catch_up.startup_timeout_seconds is None and config.drain.max_load_wait_seconds == 120
    for script in ("drain", "pre-start", "post-start"):
        text = (out / "bin" / script).read_text()
        assert "set -euo pipefail" in text and "exec /var/vcap/packages/cf-mysql-consul/bin/python -m" in text


def test_without_proxy_link_uses_api_addresses(tmp_path: Path) -> None:
    out = render(tmp_path, links={"mysql": MYSQL},
                 switchover={"api_addresses": ["10.0.0.5"], "api_username": "u", "api_password": "p"})
    config = load_config(out / "config" / "galera-drain.json")
    assert [p.url for p in config.proxies] == ["http://10.0.0.5:8080"]


@pytest.mark.parametrize("props,name", [
    ({"max_wait_policy": "later"}, "galera_drain.max_wait_policy"),
    ({"quiet_seconds": 700}, "galera_drain.quiet_seconds"),
    ({"max_flow_control_paused": 2}, "galera_drain.max_flow_control_paused"),
    ({"poll_seconds": 0}, "galera_drain.poll_seconds"),
    ({"switchover": {"api_addresses": ["10.0.0.5"]}}, "galera_drain.switchover.api_username"),
    ({"pre_start": {"catch_up": "sometimes"}}, "galera_drain.pre_start.catch_up"),
    ({"pre_start": {"catch_up": "never"}, "mysql_startup_timeout_seconds": 10},
     "galera_drain.mysql_startup_timeout_seconds"),
    ({"pre_start": {"mysqld_argv": []}}, "galera_drain.pre_start.mysqld_argv"),
    ({"pre_start": {"ist_margin": 2}}, "galera_drain.pre_start.ist_margin"),
    ({"max_wait_seconds": "ten"}, "galera_drain.max_wait_seconds"),
    ({"sample_seconds": 0}, "galera_drain.sample_seconds"),
    ({"switchover": {"enabled": "yes"}}, "galera_drain.switchover.enabled"),
    ({"post_start": {"timeout_seconds": 0}}, "galera_drain.post_start.timeout_seconds"),
    ({"metrics_port": 70000}, "galera_drain.metrics_port"),
    ({"log_level": "verbose"}, "galera_drain.log_level"),
])
def test_invalid_properties_are_refused_naming_the_property(tmp_path: Path, props: dict[str, Any], name: str) -> None:
    """The template renders the values as they are; the job's config check (when a hook starts, and in
    release.lint) refuses them, naming the property."""
    links = {"mysql": MYSQL} if "switchover" in props and "api_addresses" in props["switchover"] else None
    out = render(tmp_path, links=links, **props)
    with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
        load_config(out / "config" / "galera-drain.json")


@pytest.mark.parametrize("props", [{"healthcheck_port": "9200"}, {"switchover": {"api_addresses": ["10.0.0.5"],
                                                                                   "api_port": 0}}])
def test_ports_the_template_turns_into_urls_fail_at_render(tmp_path: Path, props: dict[str, Any]) -> None:
    links = {"mysql": MYSQL} if "switchover" in props else None
    with pytest.raises(RenderError, match="must be a TCP port"):
        render(tmp_path, links=links, **props)


def test_a_short_start_timeout_is_accepted_with_the_catch_up(tmp_path: Path) -> None:
    out = render(tmp_path, mysql_startup_timeout_seconds=10)
    assert load_config(out / "config" / "galera-drain.json").catch_up.startup_timeout_seconds == 10


def test_the_pxc_ops_file_gives_galera_drain_pxc_mysqls_paths_and_no_second_mysqld(tmp_path: Path) -> None:
    """pxc-release: pxc-mysql's socket, mysqld's pid file and datadir (its my.cnf); no catch-up, since
    pxc-mysql's own pre-start joins the node; three nodes, as pxc-release has no garbd job."""
    from cf_mysql_consul_tools.bosh.manifest import interpolate
    from cf_mysql_consul_tools.bosh.variables import VarsStore

    manifests = JOB.parents[1] / "manifests"
    doc = interpolate(manifests / "cf-mysql-consul.yml", [manifests / "operations" / "use-pxc-release.yml"],
                      store=VarsStore(placeholders=True))
    groups = {g["name"]: g for g in doc["instance_groups"]}
    assert "arbitrator" not in groups and groups["mysql"]["instances"] == 3
    jobs = {j["name"]: j for j in groups["mysql"]["jobs"]}
    assert {"pxc-mysql", "galera-agent", "galera-drain", "bpm"} <= set(jobs) and "mysql" not in jobs
    out = render(tmp_path, **jobs["galera-drain"]["properties"]["galera_drain"])
    config = load_config(out / "config" / "galera-drain.json")
    assert config.mysql.socket == "/var/vcap/sys/run/pxc-mysql/mysqld.sock"
    assert config.mysql.pid_file == "/var/vcap/store/pxc-mysql/mysql.pid"
    assert config.catch_up.mode == "never" and config.catch_up.datadir == "/var/vcap/store/pxc-mysql"
