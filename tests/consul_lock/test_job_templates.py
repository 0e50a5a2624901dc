"""The consul-lock job renders through real Ruby ERB; its config check (run at start, and by the release
lint on every rendered config) refuses bad settings, naming the property."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cf_mysql_consul.consul_lock.config import ConfigError, load_config
from cf_mysql_consul_tools.bosh.render import InstanceSpec, Link, LinkInstance, render_job

JOB = Path(__file__).resolve().parents[2] / "jobs" / "consul-lock"
INSTANCE = InstanceSpec(deployment="cf-mysql", name="proxy", index=1, id="p1", address="127.0.10.5", ip="127.0.10.5")
PROXY = Link(
    instances=(LinkInstance("proxy", 0, "p0", "127.0.10.4"), LinkInstance("proxy", 1, "p1", "127.0.10.5")),
    properties={"port": 3306, "api_port": 8080, "health_port": 1936, "api_username": "admin", "api_password": "pw"},
)


PEERS = Link(
    instances=(LinkInstance("proxy", 0, "p0", "127.0.10.4"), LinkInstance("proxy", 1, "p1", "127.0.10.5")),
    properties={"peer_api": {"port": 8090, "username": "consul-lock", "password": "peer-pw"}},
)


def render(tmp_path: Path, **properties: Any) -> Path:
    render_job(JOB, instance=INSTANCE, properties=properties, links={"proxy": PROXY, "consul-lock": PEERS},
               out_dir=tmp_path)
    return tmp_path / "config" / "consul-lock.yml"


def test_defaults_render_into_a_valid_config(tmp_path: Path) -> None:
    config, margins = load_config(render(tmp_path))
    assert config.instance_name == "proxy/1" and config.key == "service/mysql/leader"
    assert config.service_id == "mysql-proxy-1" and config.dns_name == "mysql.service.consul"
    assert (config.consul_address, config.consul_port) == ("127.0.0.1", 8500)  # where consul-release's agent listens
    assert (config.proxy.address, config.proxy.api_port, config.proxy.api_username) == ("127.0.10.5", 8080, "admin")
    assert config.timing.session_ttl_seconds == 10 and config.timing.lock_delay_seconds == 3
    # The peers are the OTHER members of the consul-lock link, asked on their peer API port.
    assert [(p.name, p.address, p.port) for p in config.peers] == [("proxy/0", "127.0.10.4", 8090)]
    assert (config.peer_api_port, config.peer_api_username, config.peer_api_password) == (
        8090, "consul-lock", "peer-pw")
    assert margins.session_ttl > 0
    bpm = yaml.safe_load((tmp_path / "config" / "bpm.yml").read_text())
    assert bpm["processes"][0]["args"][:2] == ["-m", "cf_mysql_consul.consul_lock"]
    assert "cf_mysql_consul.consul_lock.drain" in (tmp_path / "bin" / "drain").read_text()


def test_an_empty_agent_address_means_the_instances_own_address(tmp_path: Path) -> None:
    config, _ = load_config(render(tmp_path, consul_agent_address=""))
    assert config.consul_address == "127.0.10.5"


@pytest.mark.parametrize(("props", "says"), [
    ({"session_ttl_seconds": 5}, "property 'session_ttl_seconds' must be a whole number of seconds between 10"),
    ({"lock_delay_seconds": 1}, "property 'lock_delay_seconds' (1) must be longer than proxy_timeout_seconds"),
    ({"renew_interval_seconds": 0}, "property 'renew_interval_seconds' must be > 0"),
    ({"heartbeat_ttl_seconds": -5}, "property 'heartbeat_ttl_seconds' must be > 0"),
    ({"consul_agent_address": "not an ip"}, "property 'consul_agent_address' must be an IP address"),
    ({"consul_agent_port": 0}, "property 'consul_agent_port' must be a TCP port"),
    ({"consul_domain": "cf internal"}, "property 'consul_domain' must be a DNS domain"),
    ({"service_name": "my_sql"}, "property 'service_name' must be a DNS label"),
    ({"lease_seconds": "2"}, "property 'lease_seconds' must be a number"),
])
def test_the_config_check_refuses_bad_values_naming_the_property(tmp_path: Path, props: dict[str, Any],
                                                                 says: str) -> None:
    """The template renders values as they are; the job's config check (at start, and in release.lint)
    refuses them, naming the property."""
    with pytest.raises(ConfigError) as refused:
        load_config(render(tmp_path, **props))
    assert says in str(refused.value)


@pytest.mark.parametrize(("props", "named"), [({"lease_seconds": 9}, "lease_seconds"),
                                              ({"lock_delay_seconds": 0}, "lock_delay_seconds")])
def test_the_process_refuses_unsafe_timings_at_start(tmp_path: Path, props: dict[str, Any], named: str) -> None:
    path = render(tmp_path, **props)
    result = subprocess.run([sys.executable, "-m", "cf_mysql_consul.consul_lock", "--config", str(path)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "refusing to start" in result.stderr and f"property '{named}'" in result.stderr


def test_check_flag_prints_the_margins(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "cf_mysql_consul.consul_lock", "--config", str(render(tmp_path)),
                             "--check"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0 and "safety margins" in result.stdout
