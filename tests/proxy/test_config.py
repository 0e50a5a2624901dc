"""Config validation: defaults, and errors that name the property (the rendered keys are the job's
property names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cf_mysql_consul.proxy.client import ProxyEndpoint
from cf_mysql_consul.proxy.config import ConfigError, load_config, parse_config


def minimal(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "api_username": "admin",
        "api_password": "secret",
        "backends": [
            {"name": "mysql/0", "host": "127.0.10.1", "port": 3306},
            {"name": "mysql/1", "host": "127.0.10.2", "port": 3306},
        ],
    }
    raw.update(overrides)
    return raw


def test_defaults() -> None:
    config = parse_config(minimal())
    assert (config.port, config.api_port, config.health_port) == (3306, 8080, 1936)
    assert config.health_strategy == "galera-healthcheck"
    assert (config.healthcheck_interval_millis, config.healthcheck_timeout_millis) == (500, 1000)
    assert [b.index for b in config.backends] == [0, 1]
    assert config.backend("mysql/1") is not None and config.backend("mysql/2") is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"api_password": None}, "api_password"),
        ({"port": 70000}, "port"),
        ({"port": "3306"}, "port"),
        ({"healthcheck_timeout_millis": 0}, "healthcheck_timeout_millis"),
        ({"health_strategy": "tcp"}, "health_strategy"),
        ({"health_strategy": "sql"}, "monitor_user"),
        ({"health_strategy": "sql", "monitor_user": "mon"}, "monitor_password"),
        ({"shutdown_delay": 30}, "property 'shutdown_delay' must be at most 15"),
        ({"startup_delay": -1}, "startup_delay"),
        ({"galera_healthcheck_port": 0}, "galera_healthcheck_port"),
        ({"max_connections": 40000}, "property 'max_connections' must be at most 32268"),
        ({"start_enabled": "yes"}, "start_enabled"),
        ({"max_connections": True}, "max_connections"),
        ({"bind_address": "localhost"}, "bind_address"),
        ({"backends": []}, "backends"),
        (
            {
                "backends": [
                    {"name": "a", "host": "127.0.0.1", "port": 1},
                    {"name": "a", "host": "127.0.0.2", "port": 1},
                ]
            },
            "duplicate",
        ),
        ({"api_port": 3306}, "must differ"),
    ],
)
def test_invalid_fields_are_named(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        parse_config(minimal(**overrides))


def test_load_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "proxy.yml"
    path.write_text(
        '{"api_username": "a", "api_password": "b", "backends": '
        '[{"name": "mysql/0", "host": "127.0.0.1", "port": 3306}]}'
    )
    assert load_config(path).backends[0].name == "mysql/0"


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yml")
    (tmp_path / "bad.yml").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid"):
        load_config(tmp_path / "bad.yml")


@pytest.mark.parametrize(("bind", "host"), [("0.0.0.0", "127.0.0.1"), ("::", "127.0.0.1"), ("10.0.0.4", "10.0.0.4")])
def test_the_api_client_reaches_what_the_config_binds(bind: str, host: str) -> None:
    endpoint = ProxyEndpoint.from_config(parse_config(minimal(bind_address=bind, api_port=8081, health_port=1937)))
    assert (endpoint.api_url, endpoint.health_url) == (f"http://{host}:8081", f"http://{host}:1937")
    assert (endpoint.username, endpoint.password) == ("admin", "secret")
    assert ProxyEndpoint.from_url("http://10.0.0.5:8082", "u", "p").api_url == "http://10.0.0.5:8082"
