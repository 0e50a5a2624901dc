"""The galera-drain job's config: the JSON its ERB template renders, loaded and checked.

This is the one place the job's property values are checked: when a hook or the metrics process
starts, and when ``release.lint`` feeds it every config it renders. Every message names the
property (``galera_drain.*``) an operator sets; :func:`property_name` maps a rendered key to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cf_mysql_consul.configfile import read_mapping
from cf_mysql_consul.galera_drain.cluster import Peer, ProxyApiTarget
from cf_mysql_consul.galera_drain.decide import DrainConfig, PostStartConfig
from cf_mysql_consul.galera_drain.node import MySQLTarget

EVENTS_PATH = "/var/vcap/store/galera-drain/events.jsonl"  # what the hooks did, for the metrics process
LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}  # the logging module's numbers


class ConfigError(ValueError):
    """The config file is missing or invalid; the message names the key."""


@dataclass(frozen=True, slots=True)
class CatchUpConfig:
    """The ``pre_start`` section of the job's config."""

    mode: str = "auto"  # auto | always | never
    mysqld_argv: tuple[str, ...] = ()
    datadir: str = "/var/vcap/store/mysql"
    timeout_seconds: float = 3600.0
    stop_timeout_seconds: float = 300.0
    ist_margin: float = 0.5
    startup_timeout_seconds: float | None = None  # the mysql job's database_startup_timeout, when known


@dataclass(frozen=True, slots=True)
class JobConfig:
    """Everything bin/drain and bin/post-start need."""

    node_name: str
    mysql: MySQLTarget
    peers: tuple[Peer, ...]
    proxies: tuple[ProxyApiTarget, ...]
    drain: DrainConfig
    post_start: PostStartConfig
    sample_seconds: float
    switchover_idle_wait_seconds: float
    state_path: str
    log_path: str
    catch_up: CatchUpConfig = CatchUpConfig()
    events_path: str = EVENTS_PATH
    metrics_address: str = "127.0.0.1"
    metrics_port: int = 9190
    log_level: str = "info"


RENAMED = {"pre_start.startup_timeout_seconds": "mysql_startup_timeout_seconds", "metrics.port": "metrics_port"}
"""Rendered keys whose property is named otherwise (the rest: the key, without ``drain.``)."""
MIN_STARTUP_TIMEOUT_SECONDS = 30
"""Below this start timeout no rejoin under load fits, so the mysql job would stop its node half-way."""


def property_name(path: str) -> str:
    """The job property a rendered key comes from: ``drain.quiet_seconds`` -> ``galera_drain.quiet_seconds``."""
    return "galera_drain." + RENAMED.get(path, path.removeprefix("drain."))


def _get(raw: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node or node[part] is None:
            if default is not None:
                return default
            raise ConfigError(f"property '{property_name(dotted)}' is missing")
        node = node[part]
    return node


def _number(raw: dict[str, Any], path: str, default: float | None = None, *, minimum: float | None = None,
            above: float | None = None, maximum: float | None = None, integer: bool = False) -> float:
    """The number at ``path``; ConfigError naming its property when it is not one or is out of bounds."""
    value = _get(raw, path, default)
    bounds = [f"at least {minimum:g}" if minimum is not None else "", f"above {above:g}" if above is not None else "",
              f"at most {maximum:g}" if maximum is not None else ""]
    is_number = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    if not is_number or ((minimum is not None and value < minimum) or (above is not None and value <= above)
                         or (maximum is not None and value > maximum)):
        wanted = " and ".join(b for b in [("a whole number" if integer else "a number"), *bounds] if b)
        raise ConfigError(f"property '{property_name(path)}' must be {wanted}, got {value!r}")
    return float(value)


def _choice(raw: dict[str, Any], path: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = _get(raw, path, default)
    if value not in allowed:
        raise ConfigError(f"property '{property_name(path)}' must be {', '.join(allowed[:-1])} or {allowed[-1]}, "
                          f"got {value!r}")
    return str(value)


def _flag(raw: dict[str, Any], path: str) -> bool:
    value = _get(raw, path)
    if not isinstance(value, bool):
        raise ConfigError(f"property '{property_name(path)}' must be true or false, got {value!r}")
    return value


def _catch_up(raw: dict[str, Any]) -> CatchUpConfig:
    mode = _choice(raw, "pre_start.catch_up", ("auto", "always", "never"), "auto")
    argv = _get(raw, "pre_start.mysqld_argv", [])
    if not isinstance(argv, list) or (mode != "never" and not argv):
        raise ConfigError(f"property 'galera_drain.pre_start.mysqld_argv' must list the mysqld command line when "
                          f"catch_up is {mode}, got {argv!r}")
    limit = _number(raw, "pre_start.startup_timeout_seconds", 0, minimum=0) or None  # 0: unknown
    if limit is not None and mode == "never" and limit < MIN_STARTUP_TIMEOUT_SECONDS:
        raise ConfigError(f"property 'galera_drain.mysql_startup_timeout_seconds' ({limit:g}) is below "
                          f"{MIN_STARTUP_TIMEOUT_SECONDS} s with 'galera_drain.pre_start.catch_up' never: no rejoin "
                          "under load fits it, the node would cycle; raise the mysql job's start timeout or enable "
                          "the catch-up")
    return CatchUpConfig(
        mode=mode, mysqld_argv=tuple(str(a) for a in argv),
        datadir=str(_get(raw, "pre_start.datadir", "/var/vcap/store/mysql")),
        timeout_seconds=_number(raw, "pre_start.timeout_seconds", 3600, above=0),
        stop_timeout_seconds=_number(raw, "pre_start.stop_timeout_seconds", 300, above=0),
        ist_margin=_number(raw, "pre_start.ist_margin", 0.5, above=0, maximum=1),
        startup_timeout_seconds=limit,
    )


def _proxies(raw: dict[str, Any], switchover: bool) -> tuple[ProxyApiTarget, ...]:
    api = _get(raw, "switchover")
    username, password = str(api.get("api_username") or ""), str(api.get("api_password") or "")
    entries = _get(raw, "switchover.proxies", [])
    if switchover and entries and not (username and password):
        raise ConfigError("properties 'galera_drain.switchover.api_username' and 'galera_drain.switchover."
                          "api_password' must be set when 'galera_drain.switchover.api_addresses' is used without "
                          "a 'proxy' link")
    return tuple(ProxyApiTarget(str(p["name"]), str(p["api_url"]), username, password) for p in entries)


def parse_config(raw: dict[str, Any]) -> JobConfig:
    """Turn the rendered JSON into a ``JobConfig``; raise ``ConfigError`` naming the property."""
    try:
        switchover = _flag(raw, "switchover.enabled")
        drain = DrainConfig(
            max_wait_seconds=_number(raw, "drain.max_wait_seconds"),
            quiet_seconds=_number(raw, "drain.quiet_seconds"),
            poll_seconds=int(_number(raw, "drain.poll_seconds", integer=True)),
            policy=str(_get(raw, "drain.max_wait_policy")),
            max_writes_per_second=_number(raw, "drain.max_writes_per_second", minimum=0),
            max_recv_queue=int(_number(raw, "drain.max_recv_queue", minimum=0, integer=True)),
            max_flow_control_paused=_number(raw, "drain.max_flow_control_paused", minimum=0, maximum=1),
            max_threads_running=int(_number(raw, "drain.max_threads_running", minimum=0, integer=True)),
            switchover=switchover,
            switchover_retry_seconds=_number(raw, "switchover.retry_seconds", above=0),
            max_load_wait_seconds=_number(raw, "drain.max_load_wait_seconds", 120.0),
        )
        try:
            drain.validate()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        level = _choice(raw, "log_level", tuple(LOG_LEVELS), "info")
        return JobConfig(
            node_name=str(_get(raw, "node_name")),
            mysql=MySQLTarget(socket=str(_get(raw, "mysql.socket")), pid_file=str(_get(raw, "mysql.pid_file")),
                              user=str(_get(raw, "mysql.user")), password=str(_get(raw, "mysql.password", ""))),
            peers=tuple(Peer(str(p["name"]), str(p["healthcheck_url"])) for p in _get(raw, "peers", [])),
            proxies=_proxies(raw, switchover),
            drain=drain,
            post_start=PostStartConfig(
                timeout_seconds=_number(raw, "post_start.timeout_seconds", above=0),
                max_recv_queue=int(_number(raw, "post_start.max_recv_queue", minimum=0, integer=True))),
            sample_seconds=_number(raw, "drain.sample_seconds", 1.0, above=0),
            switchover_idle_wait_seconds=_number(raw, "switchover.idle_wait_seconds", minimum=0),
            state_path=str(_get(raw, "state_path")),
            log_path=str(_get(raw, "log_path")),
            catch_up=_catch_up(raw),
            events_path=str(raw.get("events_path", EVENTS_PATH)),
            metrics_address=str(_get(raw, "metrics.address", "127.0.0.1")),
            metrics_port=int(_number(raw, "metrics.port", 9190, minimum=1, maximum=65535, integer=True)),
            log_level=level,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"invalid galera-drain config: {exc}") from exc


def load_config(path: str | Path) -> JobConfig:
    """Read and parse the rendered config file; raise ``ConfigError`` on any problem."""
    return parse_config(read_mapping(path, ConfigError))
