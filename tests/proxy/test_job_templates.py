"""The proxy job renders through real Ruby ERB into files the proxy and bpm accept; the proxy's config
check refuses bad values, naming the property."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cf_mysql_consul.proxy.config import ConfigError, load_config
from cf_mysql_consul_tools.bosh.director import render_instance_job
from cf_mysql_consul_tools.bosh.manifest import parse
from cf_mysql_consul_tools.bosh.releases import Catalog
from cf_mysql_consul_tools.bosh.render import InstanceSpec, Link, LinkInstance, RenderError, render_job

JOB = Path(__file__).resolve().parents[2] / "jobs" / "proxy"
INSTANCE = InstanceSpec(deployment="cf-mysql", name="proxy", index=1, id="p1", address="127.0.10.5", ip="127.0.10.5")
MYSQL = Link(
    instances=(LinkInstance("mysql", 0, "m0", "127.0.10.1"), LinkInstance("mysql", 1, "m1", "127.0.10.2")),
    properties={"port": 3306},
)


def render(tmp_path: Path, **properties: Any) -> Path:
    props = {"api_username": "admin", "api_password": "secret", **properties}
    render_job(JOB, instance=INSTANCE, properties=props, links={"mysql": MYSQL}, out_dir=tmp_path)
    return tmp_path


def test_rendered_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(render(tmp_path) / "config" / "proxy.yml")
    assert config.instance_name == "proxy/1"
    assert config.bind_address == "127.0.10.5"
    assert (config.port, config.api_port, config.health_port) == (3306, 8080, 1936)
    assert [(b.name, b.host, b.port) for b in config.backends] == [
        ("mysql/0", "127.0.10.1", 3306),
        ("mysql/1", "127.0.10.2", 3306),
    ]
    assert config.start_enabled and config.health_strategy == "galera-healthcheck"


@pytest.mark.parametrize(("release", "job", "properties", "port"), [
    ("cf-mysql", "mysql", {}, 3306),  # cf-mysql-release's link: cf_mysql.mysql.port only, its default
    ("cf-mysql", "mysql", {"cf_mysql": {"mysql": {"port": 3307}}}, 3307),
    ("pxc", "pxc-mysql", {"port": 3308}, 3308),  # pxc-release's link: a top-level port
])
def test_backends_use_the_port_of_either_releases_mysql_link(tmp_path: Path, release: str, job: str,
                                                            properties: dict[str, Any], port: int) -> None:
    """The mysql link as each real release provides it (the model's table of other releases' jobs)."""
    dep = parse({"name": "d", "instance_groups": [
        {"name": "mysql", "instances": 2, "networks": [{"name": "n", "static_ips": ["10.0.0.1", "10.0.0.2"]}],
         "jobs": [{"name": job, "release": release, "properties": properties}]},
        {"name": "proxy", "instances": 1, "networks": [{"name": "n", "static_ips": ["10.0.0.5"]}],
         "jobs": [{"name": "proxy", "release": "cf-mysql-consul",
                   "properties": {"api_username": "admin", "api_password": "secret"}}]},
    ]}, Path("d.yml"))
    proxy = dep.instance("proxy/0")
    render_instance_job(dep, proxy, dep.instance_group("proxy").jobs[0], Catalog(), tmp_path)
    config = load_config(tmp_path / "config" / "proxy.yml")
    assert [(b.host, b.port) for b in config.backends] == [("10.0.0.1", port), ("10.0.0.2", port)]


def test_properties_reach_the_config(tmp_path: Path) -> None:
    config = load_config(
        render(
            tmp_path,
            start_enabled=False,
            shutdown_delay=3,
            bind_address="0.0.0.0",
            health_strategy="sql",
            monitor_user="mon",
            monitor_password="pw",
            healthcheck_timeout_millis=750,
        )
        / "config"
        / "proxy.yml"
    )
    assert not config.start_enabled and config.shutdown_delay_seconds == 3
    assert config.bind_address == "0.0.0.0" and config.health_strategy == "sql"
    assert config.healthcheck_timeout_millis == 750 and config.monitor_user == "mon"


def test_bpm_and_monit(tmp_path: Path) -> None:
    out = render(tmp_path)
    bpm = yaml.safe_load((out / "config" / "bpm.yml").read_text())
    assert bpm["processes"] == [
        {
            "name": "proxy",
            "executable": "/var/vcap/packages/cf-mysql-consul/bin/python",
            "args": ["-m", "cf_mysql_consul.proxy", "--config", "/var/vcap/jobs/proxy/config/proxy.yml",
                     "--log-level", "INFO"],
            "env": {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"},
            "limits": {"open_files": 65536},
        }
    ]
    assert [line.strip() for line in (out / "monit").read_text().splitlines()] == [
        "check process proxy",
        "with pidfile /var/vcap/sys/run/bpm/proxy/proxy.pid",
        'start program "/var/vcap/jobs/bpm/bin/bpm start proxy"',
        'stop program "/var/vcap/jobs/bpm/bin/bpm stop proxy"',
    ]


def test_scripts_are_valid_bash_wrappers(tmp_path: Path) -> None:
    out = render(tmp_path)
    for name, module in (
        ("drain", "cf_mysql_consul.proxy.drain"),
        ("post-start", "cf_mysql_consul.proxy.post_start"),
    ):
        script = out / "bin" / name
        text = script.read_text()
        assert "set -euo pipefail" in text and f"-m {module}" in text
        assert script.stat().st_mode & 0o111
        subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.parametrize(
    ("properties", "named"),
    [
        ({"shutdown_delay": 30}, "shutdown_delay"),
        ({"port": 70000}, "'port'"),
        ({"api_port": 3306}, "must differ"),
        ({"health_strategy": "tcp"}, "health_strategy"),
        ({"health_strategy": "sql"}, "monitor_user"),
        ({"max_connections": 40000}, "max_connections"),
        ({"healthcheck_timeout_millis": 0}, "healthcheck_timeout_millis"),
        ({"start_enabled": "yes"}, "start_enabled"),
    ],
)
def test_invalid_property_is_refused_by_the_config_check_naming_it(tmp_path: Path, properties: dict[str, Any],
                                                                   named: str) -> None:
    """The template renders the value as it is; the proxy's config check (at start, and in release.lint)
    refuses it, naming the property."""
    with pytest.raises(ConfigError, match=named):
        load_config(render(tmp_path, **properties) / "config" / "proxy.yml")


def test_missing_password_fails_at_render(tmp_path: Path) -> None:
    """A property without a default that the template reads: BOSH refuses to render, before any check."""
    with pytest.raises(RenderError, match="api_password"):
        render_job(
            JOB,
            instance=INSTANCE,
            properties={"api_username": "admin"},
            links={"mysql": MYSQL},
            out_dir=tmp_path,
        )
