"""Load and validate consul-lock's rendered config (``config/consul-lock.yml``, JSON from the ERB).

Keys are the job's property names, so every message names what an operator sets (``proxy.*``
come from the proxy link, ``peer_api.*`` and ``peers`` from the consul-lock link). Timing rules
live in ``timing``. This is the one place the values are checked: when the process starts, and
when ``release.lint`` feeds it every config it renders.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cf_mysql_consul.configfile import read_mapping
from cf_mysql_consul.consul_lock.failsafe import Peer
from cf_mysql_consul.consul_lock.timing import Margins, Timing, TimingError, check

DOMAIN_RE = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


class ConfigError(ValueError):
    """The config is missing, unreadable or invalid (the message names the property)."""


@dataclass(frozen=True, slots=True)
class ProxyEndpoint:
    """Where the colocated proxy answers (from the ``proxy`` link)."""

    address: str
    port: int
    api_port: int
    health_port: int
    api_username: str
    api_password: str


@dataclass(frozen=True, slots=True)
class LockConfig:
    """The validated configuration of one consul-lock process."""

    instance_name: str
    address: str
    consul_address: str
    consul_port: int
    service_name: str
    consul_domain: str
    key_prefix: str
    check_interval_seconds: float
    drain_timeout_seconds: float
    audit_log_path: str
    run_dir: str
    proxy: ProxyEndpoint
    timing: Timing
    peer_api_port: int
    peer_api_username: str
    peer_api_password: str
    peers: tuple[Peer, ...]  # every OTHER consul-lock of the deployment (the consul-lock link)

    @property
    def key(self) -> str:
        """The lock key: ``<key_prefix>/<service_name>/leader``."""
        return f"{self.key_prefix.strip('/')}/{self.service_name}/leader"

    @property
    def dns_name(self) -> str:
        """The name clients resolve to find the active proxy, e.g. ``mysql.service.consul``."""
        return f"{self.service_name}.service.{self.consul_domain}"

    @property
    def service_id(self) -> str:
        """This proxy's Consul service ID, e.g. ``mysql-proxy-0``."""
        return f"{self.service_name}-{self.instance_name.replace('/', '-')}"

    @property
    def live_check_id(self) -> str:
        """The agent check of the proxy's ``/live`` (tied to the session)."""
        return f"{self.service_id}-proxy-live"

    @property
    def heartbeat_check_id(self) -> str:
        """The TTL check this job passes every cycle (tied to the session)."""
        return f"{self.service_id}-lock-heartbeat"

    @property
    def state_path(self) -> str:
        """JSON file with the daemon's current role (read by bin/drain and tests)."""
        return f"{self.run_dir}/state.json"

    @property
    def promise_path(self) -> str:
        """The failsafe promise this job gave a peer (kept across restarts of the process)."""
        return f"{self.run_dir}/failsafe-promise.json"

    @property
    def pid_path(self) -> str:
        """The daemon's PID file (bin/drain signals it)."""
        return f"{self.run_dir}/consul-lock.pid"


def _get(raw: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None, *,
         within: str = "") -> Any:
    """``raw[name]`` of type ``kind``; ``within`` prefixes the name in messages (``peer_api.``)."""
    value = raw.get(name, default)
    if value is None:
        raise ConfigError(f"property '{within}{name}' is missing")
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "a number" if isinstance(kind, tuple) else {int: "a whole number", str: "a string"}.get(kind, str(kind))
        raise ConfigError(f"property '{within}{name}' must be {what}, got {value!r}")
    return value


def _number(raw: dict[str, Any], name: str, default: float) -> float:
    return float(_get(raw, name, (int, float), default))


def _port(raw: dict[str, Any], name: str, default: int | None = None, *, within: str = "") -> int:
    value: int = _get(raw, name, int, default, within=within)
    if not 1 <= value <= 65535:
        raise ConfigError(f"property '{within}{name}' must be a TCP port (1-65535), got {value}")
    return value


def _address(raw: dict[str, Any], name: str, *, within: str = "") -> str:
    value: str = _get(raw, name, str, within=within)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(f"property '{within}{name}' must be an IP address, got {value!r}") from None
    return value


def parse_config(raw: object) -> tuple[LockConfig, Margins]:
    """Validate a decoded config; return it with its safety margins or raise ``ConfigError``."""
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping")
    proxy_raw = raw.get("proxy")
    if not isinstance(proxy_raw, dict):
        raise ConfigError("property 'proxy' (from the proxy link) is missing")
    proxy = ProxyEndpoint(
        address=_address(proxy_raw, "address", within="proxy."),
        port=_port(proxy_raw, "port", 3306, within="proxy."),
        api_port=_port(proxy_raw, "api_port", 8080, within="proxy."),
        health_port=_port(proxy_raw, "health_port", 1936, within="proxy."),
        api_username=_get(proxy_raw, "api_username", str, within="proxy."),
        api_password=_get(proxy_raw, "api_password", str, within="proxy."),
    )
    if not proxy.api_username or not proxy.api_password:
        raise ConfigError("the proxy link's api_username and api_password must not be empty")
    timing = Timing(**{name: _number(raw, name, getattr(Timing(), name)) for name in Timing.__dataclass_fields__})
    try:
        margins = check(timing)
    except TimingError as exc:
        raise ConfigError(str(exc)) from None
    service = _get(raw, "service_name", str, "mysql")
    if not service or not all(c.isalnum() or c == "-" for c in service):
        raise ConfigError(f"property 'service_name' must be a DNS label (letters, digits, '-'), got {service!r}")
    interval = _number(raw, "check_interval_seconds", 1)
    if not 0.1 <= interval <= 10:
        raise ConfigError(f"property 'check_interval_seconds' must be between 0.1 and 10, got {interval}")
    instance_name = _get(raw, "instance_name", str)
    peer_api = raw.get("peer_api")
    if not isinstance(peer_api, dict):
        raise ConfigError("property 'peer_api' (port, username, password) is missing")
    peer_port = _port(peer_api, "port", 8090, within="peer_api.")
    username = _get(peer_api, "username", str, within="peer_api.")
    password = _get(peer_api, "password", str, within="peer_api.")
    if not username or not password:
        raise ConfigError("properties 'peer_api.username' and 'peer_api.password' must not be empty: the peers "
                          "authenticate every failsafe request with them")
    members = raw.get("peers", [])
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        raise ConfigError("property 'peers' (from the consul-lock link) must be a list of {name, address}")
    peers = tuple(Peer(name=_get(m, "name", str, within="peers[]."), address=_address(m, "address", within="peers[]."),
                       port=peer_port) for m in members if m.get("name") != instance_name)
    domain = _get(raw, "consul_domain", str, "consul").strip(".")
    if not DOMAIN_RE.fullmatch(domain):
        raise ConfigError(f"property 'consul_domain' must be a DNS domain like consul or cf.internal (consul_agent's "
                          f"consul.agent.domain), got {domain!r}")
    config = LockConfig(
        instance_name=instance_name,
        address=_address(raw, "address"),
        consul_address=_address(raw, "consul_agent_address"),
        consul_port=_port(raw, "consul_agent_port", 8500),
        service_name=service,
        consul_domain=domain,
        key_prefix=_get(raw, "key_prefix", str, "service"),
        check_interval_seconds=interval,
        drain_timeout_seconds=_number(raw, "drain_timeout_seconds", 10),
        audit_log_path=_get(raw, "audit_log_path", str, "/var/vcap/sys/log/consul-lock/audit.jsonl"),
        run_dir=_get(raw, "run_dir", str, "/var/vcap/sys/run/consul-lock"),
        proxy=proxy,
        timing=timing,
        peer_api_port=peer_port,
        peer_api_username=username,
        peer_api_password=password,
        peers=peers,
    )
    return config, margins


def load_config(path: str | Path) -> tuple[LockConfig, Margins]:
    """Read ``path`` (JSON or YAML) and validate it; raise ``ConfigError`` on any problem."""
    return parse_config(read_mapping(path, ConfigError))
