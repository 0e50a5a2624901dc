"""Load and validate the proxy's rendered config (``config/proxy.yml``, JSON from the ERB).

The rendered keys are the job's property names (the ERB only fills in what comes from the
instance and the ``mysql`` link), and this is the one place their values are checked: at start,
and by ``release.lint`` on every rendered config. Every check names the property and says what
would be valid, so a bad deployment fails with a line an operator can act on. Timing invariants
of the proxy live here, refused not fixed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cf_mysql_consul.configfile import read_mapping

HEALTH_STRATEGIES = ("galera-healthcheck", "sql")
BPM_KILL_AFTER_SECONDS = 20
"""bpm (and the lab) send SIGKILL this long after SIGTERM."""
SHUTDOWN_MARGIN_SECONDS = 5
"""Time left after ``shutdown_delay`` to close connections and exit before that SIGKILL."""
OPEN_FILES = 65536
"""The proxy's file descriptor limit (``limits.open_files`` in its bpm.yml)."""
RESERVED_FILES = 1000
"""Descriptors kept for everything but relayed connections (health checks, API, logs)."""


class ConfigError(ValueError):
    """The config file is missing, unreadable or has an invalid field (the message names it)."""


@dataclass(frozen=True, slots=True)
class Backend:
    """One Galera node the proxy may relay to; ``index`` orders the start-up choice."""

    name: str
    host: str
    port: int
    index: int


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """The validated proxy configuration; fields are named as the rendered keys (the job's
    properties), except ``healthcheck_port`` (galera_healthcheck_port), ``shutdown_delay_seconds``
    (shutdown_delay) and ``startup_delay_seconds`` (startup_delay)."""

    instance_name: str
    bind_address: str
    port: int
    api_port: int
    health_port: int
    api_username: str
    api_password: str
    health_strategy: str
    healthcheck_port: int
    healthcheck_interval_millis: int
    healthcheck_timeout_millis: int
    healthcheck_rise: int
    healthcheck_fall: int
    monitor_user: str
    monitor_password: str
    available_when_donor: bool
    shutdown_delay_seconds: float
    startup_delay_seconds: float
    max_connections: int
    start_enabled: bool
    event_log_path: str
    backends: tuple[Backend, ...]

    def backend(self, name: str) -> Backend | None:
        """Return the backend called ``name`` (e.g. ``mysql/0``), or None."""
        return next((b for b in self.backends if b.name == name), None)


_KINDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _field(raw: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    if name not in raw or raw[name] is None:
        if default is None:
            raise ConfigError(f"property {name!r} is missing")
        return default
    value = raw[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"property {name!r} must be {_KINDS[kind]}, got {value!r}")
    return value


def _positive(raw: dict[str, Any], name: str, default: int | None = None, *, zero_ok: bool = False) -> int:
    value: int = _field(raw, name, int, default)
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(
            f"property {name!r} must be a {'non-negative' if zero_ok else 'positive'} integer, got {value}"
        )
    return value


def _port(raw: dict[str, Any], name: str, default: int | None = None) -> int:
    value = _positive(raw, name, default)
    if value > 65535:
        raise ConfigError(f"property {name!r} must be a TCP port (1-65535), got {value}")
    return value


def _seconds(raw: dict[str, Any], name: str, default: float) -> float:
    value: float = _field(raw, name, float, default)
    if value < 0:
        raise ConfigError(f"property {name!r} must be >= 0 seconds, got {value}")
    return value


def _address(value: str, name: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(f"property {name!r} must be an IP address, got {value!r}") from None
    return value


def _backends(raw: dict[str, Any]) -> tuple[Backend, ...]:
    items = raw.get("backends")
    if not isinstance(items, list) or not items:
        raise ConfigError("'backends' must be a non-empty list: the 'mysql' link has no instances (deploy the "
                          "mysql instance group first)")
    result = []
    for i, item in enumerate(items):
        where = f"backends[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where!r} must be an object with name, host, port")
        name = _field(item, "name", str)
        host = _address(_field(item, "host", str), f"{where}.host")
        port = _port(item, "port")
        result.append(Backend(name=name, host=host, port=port, index=i))
    names = [b.name for b in result]
    if len(set(names)) != len(names):
        raise ConfigError(f"'backends' has duplicate names: {names}")
    return tuple(result)


def parse_config(raw: object) -> ProxyConfig:
    """Validate a decoded config document; raise ``ConfigError`` naming the first bad property."""
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping of property names to values")
    strategy = _field(raw, "health_strategy", str, "galera-healthcheck")
    if strategy not in HEALTH_STRATEGIES:
        raise ConfigError(f"property 'health_strategy' must be one of {', '.join(HEALTH_STRATEGIES)}, "
                          f"got {strategy!r}")
    monitor_user = _field(raw, "monitor_user", str, "")
    monitor_password = _field(raw, "monitor_password", str, "")
    if strategy == "sql" and not (monitor_user and monitor_password):
        raise ConfigError("properties 'monitor_user' and 'monitor_password' must be set when health_strategy is 'sql'")
    shutdown_delay = _seconds(raw, "shutdown_delay", 10.0)
    limit = BPM_KILL_AFTER_SECONDS - SHUTDOWN_MARGIN_SECONDS
    if shutdown_delay > limit:
        raise ConfigError(
            f"property 'shutdown_delay' must be at most {limit} (seconds) so the proxy closes "
            f"connections itself before bpm's SIGKILL at {BPM_KILL_AFTER_SECONDS} s, "
            f"got {shutdown_delay:g}"
        )
    username = _field(raw, "api_username", str)
    password = _field(raw, "api_password", str)
    if not username or not password:
        raise ConfigError("properties 'api_username' and 'api_password' must not be empty")
    ports = {n: _port(raw, n, d) for n, d in (("port", 3306), ("api_port", 8080), ("health_port", 1936))}
    if len(set(ports.values())) != len(ports):
        raise ConfigError(f"properties 'port', 'api_port' and 'health_port' must differ, got {ports}")
    max_connections = _positive(raw, "max_connections", 10000)
    most = (OPEN_FILES - RESERVED_FILES) // 2
    if max_connections > most:
        raise ConfigError(f"property 'max_connections' must be at most {most}: each relayed connection uses two "
                          f"file descriptors of the {OPEN_FILES} allowed, got {max_connections}")
    return ProxyConfig(
        instance_name=_field(raw, "instance_name", str, "proxy"),
        bind_address=_address(_field(raw, "bind_address", str, "0.0.0.0"), "bind_address"),
        port=ports["port"],
        api_port=ports["api_port"],
        health_port=ports["health_port"],
        api_username=username,
        api_password=password,
        health_strategy=strategy,
        healthcheck_port=_port(raw, "galera_healthcheck_port", 9200),
        healthcheck_interval_millis=_positive(raw, "healthcheck_interval_millis", 500),
        healthcheck_timeout_millis=_positive(raw, "healthcheck_timeout_millis", 1000),
        healthcheck_rise=_positive(raw, "healthcheck_rise", 2),
        healthcheck_fall=_positive(raw, "healthcheck_fall", 1),
        monitor_user=monitor_user,
        monitor_password=monitor_password,
        available_when_donor=_field(raw, "available_when_donor", bool, False),
        shutdown_delay_seconds=shutdown_delay,
        startup_delay_seconds=_seconds(raw, "startup_delay", 0.0),
        max_connections=max_connections,
        start_enabled=_field(raw, "start_enabled", bool, True),
        event_log_path=_field(raw, "event_log_path", str, "/var/vcap/sys/log/proxy/events.jsonl"),
        backends=_backends(raw),
    )


def load_config(path: str | Path) -> ProxyConfig:
    """Read ``path`` (JSON or YAML) and validate it; raise ``ConfigError`` on any problem."""
    return parse_config(read_mapping(path, ConfigError))
