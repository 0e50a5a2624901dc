"""The workload's configuration: benchmark-bbs's config keys plus the few the lab needs.

Keys and defaults mirror benchmark-bbs (``desired_lrps``, ``num_populate_workers``,
``num_reps``, ``num_trials``, ``percent_writes``, ``error_tolerance``,
``database_connection_string`` in Go DSN form ``user:pass@tcp(host:port)/db``). Added:
``cycle_seconds`` (benchmark-bbs hard-codes a 30 s bulk cycle; the lab default is shorter),
the BBS client's pool and retry settings, and how new connections find MySQL: the name
``consul_service`` through this machine's resolver, the same name asked from the Consul DNS
interface at ``consul_dns``, or else ``database_addresses`` in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cf_mysql_consul.configfile import read_mapping


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


@dataclass(frozen=True, slots=True)
class BenchmarkConfig:
    """Everything one benchmark run needs (see the module docstring for the keys)."""

    desired_lrps: int = 5000
    num_populate_workers: int = 10
    num_reps: int = 10
    num_trials: int = 1
    percent_writes: float = 5.0
    error_tolerance: float = 0.05
    cycle_seconds: float = 30.0
    database_username: str = "root"
    database_password: str = ""
    database_name: str = "diego"
    database_addresses: tuple[str, ...] = ("127.0.0.1:3306",)
    consul_dns: str = ""
    consul_service: str = ""
    max_open_connections: int = 200
    retry_attempts: int = 3
    retry_delay_seconds: float = 0.5
    no_retry: bool = False
    measurement_workers: int = 16
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 60.0
    reseed_database: bool = True
    seed: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        """How many times one transaction is tried (1 with ``no_retry``, like an unpatched BBS)."""
        return 1 if self.no_retry else self.retry_attempts

    def check(self, *, within: str = "") -> BenchmarkConfig:
        """Refuse values that cannot work, naming the key (``within`` prefixes it); return self."""
        for f in fields(self):
            if f.name != "extra":
                _check_type(f.name, getattr(self, f.name), f.default, within)
        positive = ("desired_lrps", "num_populate_workers", "num_reps", "num_trials", "max_open_connections",
                    "retry_attempts", "measurement_workers")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{within}{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.percent_writes <= 100:
            raise ConfigError(f"{within}percent_writes must be between 0 and 100, got {self.percent_writes}")
        if not 0 <= self.error_tolerance <= 1:
            raise ConfigError(f"{within}error_tolerance must be a fraction between 0 and 1, got {self.error_tolerance}")
        if self.cycle_seconds <= 0:
            raise ConfigError(f"{within}cycle_seconds must be above 0, got {self.cycle_seconds}")
        if self.retry_delay_seconds < 0:
            raise ConfigError(f"{within}retry_delay_seconds must be at least 0, got {self.retry_delay_seconds}")
        if not self.database_addresses and not self.consul_service:
            raise ConfigError(f"give {within}database_connection_string or {within}consul_service "
                              "(e.g. mysql.service.consul)")
        if self.consul_dns and not self.consul_service:
            raise ConfigError(f"{within}consul_dns needs {within}consul_service: the name to ask it for "
                              "(e.g. mysql.service.consul)")
        for address in (*self.database_addresses, *((self.consul_dns,) if self.consul_dns else ())):
            split_address(address, 0)
        return self


_KINDS: dict[type, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"), int: ((int,), "a whole number"), float: ((int, float), "a number"),
    str: ((str,), "a string"), tuple: ((tuple,), "a list of host:port"),
}


def _check_type(name: str, value: Any, default: Any, within: str) -> None:
    """``value`` has the type of the key's default (an int for a float key too; never a bool for a number)."""
    kinds, what = _KINDS[type(default)]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ConfigError(f"{within}{name} must be {what}, got {value!r}")


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """``host[:port]`` -> (host, port); raise ``ConfigError`` when malformed."""
    host, _, port = address.rpartition(":") if ":" in address else (address, "", str(default_port))
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"address {address!r} is not host:port")
    return host, int(port)


_DSN = re.compile(r"^(?P<user>[^:@]*)(?::(?P<password>[^@]*))?@tcp\((?P<address>[^)]+)\)/(?P<db>[^?]*)")


def parse_dsn(dsn: str, *, within: str = "") -> dict[str, Any]:
    """A Go MySQL DSN (``user:pass@tcp(host:port)/db``) -> config keys."""
    match = _DSN.match(dsn)
    if not match:
        raise ConfigError(f"{within}database_connection_string {dsn!r} is not user:password@tcp(host:port)/database")
    return {"database_username": match["user"], "database_password": match["password"] or "",
            "database_addresses": (match["address"],), "database_name": match["db"] or "diego"}


def from_mapping(raw: dict[str, Any], *, within: str = "") -> BenchmarkConfig:
    """Build a config from benchmark-bbs-style JSON/YAML keys; unknown keys are kept in ``extra``.

    ``within`` prefixes every key named in a message (the errand's properties are ``benchmark-bbs.*``).
    """
    known = {f.name for f in fields(BenchmarkConfig)}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "database_connection_string" and value:
            values.update(parse_dsn(str(value), within=within))
        elif key in known and key != "extra":
            values[key] = tuple(value) if key == "database_addresses" else value
        else:
            extra[key] = value
    try:
        config = BenchmarkConfig(**values, extra=extra)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
    return config.check(within=within)


def load_config(path: str | Path) -> BenchmarkConfig:
    """The errand's rendered ``config/benchmark-bbs.json``; ConfigError naming the property (``benchmark-bbs.*``)."""
    return from_mapping(read_mapping(path, ConfigError), within="benchmark-bbs.")


def scaled(config: BenchmarkConfig, **changes: Any) -> BenchmarkConfig:
    """A copy with ``changes`` applied and checked."""
    return replace(config, **changes).check()
