"""The galera-drain job's config: the JSON its ERB template renders, loaded and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _get(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"config key '{dotted}' is missing")
        node = node[part]
    return node


def _catch_up(raw: dict[str, Any]) -> CatchUpConfig:
    mode = str(raw.get("catch_up", "auto"))
    if mode not in ("auto", "always", "never"):
        raise ConfigError(f"galera_drain.pre_start.catch_up must be auto, always or never, got {mode!r}")
    argv = tuple(str(a) for a in raw.get("mysqld_argv") or ())
    if mode != "never" and not argv:
        raise ConfigError("galera_drain.pre_start.mysqld_argv is empty: the catch-up needs the mysqld command line")
    limit = raw.get("startup_timeout_seconds")
    return CatchUpConfig(
        mode=mode, mysqld_argv=argv, datadir=str(raw.get("datadir", "/var/vcap/store/mysql")),
        timeout_seconds=float(raw.get("timeout_seconds", 3600)),
        stop_timeout_seconds=float(raw.get("stop_timeout_seconds", 300)),
        ist_margin=float(raw.get("ist_margin", 0.5)),
        startup_timeout_seconds=float(limit) if limit is not None else None,
    )


def parse_config(raw: dict[str, Any]) -> JobConfig:
    """Turn the rendered JSON into a ``JobConfig``; raise ``ConfigError`` naming the key."""
    try:
        drain_raw = _get(raw, "drain")
        drain = DrainConfig(
            max_wait_seconds=float(drain_raw["max_wait_seconds"]),
            quiet_seconds=float(drain_raw["quiet_seconds"]),
            poll_seconds=int(drain_raw["poll_seconds"]),
            policy=str(drain_raw["max_wait_policy"]),
            max_writes_per_second=float(drain_raw["max_writes_per_second"]),
            max_recv_queue=int(drain_raw["max_recv_queue"]),
            max_flow_control_paused=float(drain_raw["max_flow_control_paused"]),
            max_threads_running=int(drain_raw["max_threads_running"]),
            switchover=bool(_get(raw, "switchover.enabled")),
            switchover_retry_seconds=float(_get(raw, "switchover.retry_seconds")),
            max_load_wait_seconds=float(drain_raw.get("max_load_wait_seconds", 120.0)),
        )
        drain.validate()
        level = str(raw.get("log_level", "info"))
        if level not in LOG_LEVELS:
            raise ConfigError(f"galera_drain.log_level must be {', '.join(LOG_LEVELS)}, got {level!r}")
        metrics = raw.get("metrics") or {}
        port = int(metrics.get("port", 9190))
        if not 1 <= port <= 65535:
            raise ConfigError(f"galera_drain.metrics_port must be a TCP port (1-65535), got {port}")
        api = _get(raw, "switchover")
        return JobConfig(
            node_name=str(_get(raw, "node_name")),
            mysql=MySQLTarget(socket=str(_get(raw, "mysql.socket")), pid_file=str(_get(raw, "mysql.pid_file")),
                              user=str(_get(raw, "mysql.user")), password=str(_get(raw, "mysql.password"))),
            peers=tuple(Peer(str(p["name"]), str(p["healthcheck_url"])) for p in _get(raw, "peers")),
            proxies=tuple(ProxyApiTarget(str(p["name"]), str(p["api_url"]), str(api["api_username"]),
                                         str(api["api_password"])) for p in api["proxies"]),
            drain=drain,
            post_start=PostStartConfig(timeout_seconds=float(_get(raw, "post_start.timeout_seconds")),
                                       max_recv_queue=int(_get(raw, "post_start.max_recv_queue"))),
            sample_seconds=float(drain_raw.get("sample_seconds", 1.0)),
            switchover_idle_wait_seconds=float(_get(raw, "switchover.idle_wait_seconds")),
            state_path=str(_get(raw, "state_path")),
            log_path=str(_get(raw, "log_path")),
            catch_up=_catch_up(raw.get("pre_start") or {}),
            events_path=str(raw.get("events_path", EVENTS_PATH)),
            metrics_address=str(metrics.get("address", "127.0.0.1")),
            metrics_port=port,
            log_level=level,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"invalid galera-drain config: {exc}") from exc


def load_config(path: str | Path) -> JobConfig:
    """Read and parse the rendered config file."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return parse_config(raw)
