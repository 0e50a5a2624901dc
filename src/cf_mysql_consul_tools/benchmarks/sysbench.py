"""Run sysbench's OLTP Lua workloads against a MySQL endpoint and read its figures.

Every run is a ``sysbench`` subprocess with a hard timeout; its report is parsed for
transactions per second, the p95 latency and the error counters.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

WORKLOADS = {"point_select": "oltp_point_select", "read_write": "oltp_read_write"}
"""Short names (task options, tables, JSON keys) -> sysbench test names."""


class SysbenchError(RuntimeError):
    """sysbench failed or printed no figures; the message carries its output's tail."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where sysbench connects, and as whom."""

    host: str
    port: int
    user: str
    password: str
    database: str = "sbtest"


@dataclass(frozen=True, slots=True)
class SysbenchResult:
    """The figures of one run."""

    tps: float
    qps: float
    p95_ms: float
    errors: int
    reconnects: int
    seconds: float


def _args(test: str, endpoint: Endpoint, *, tables: int, table_size: int) -> list[str]:
    return [
        "sysbench",
        test,
        "--db-driver=mysql",
        f"--mysql-host={endpoint.host}",
        f"--mysql-port={endpoint.port}",
        f"--mysql-user={endpoint.user}",
        f"--mysql-password={endpoint.password}",
        f"--mysql-db={endpoint.database}",
        f"--tables={tables}",
        f"--table-size={table_size}",
    ]


def _run(argv: list[str], timeout: float) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SysbenchError(f"sysbench did not finish within {timeout:.0f} s: {' '.join(argv[:2])}") from exc
    if done.returncode != 0:
        raise SysbenchError(f"{' '.join(argv[:2])} exited {done.returncode}: {(done.stderr or done.stdout)[-1500:]}")
    return done.stdout


def prepare(endpoint: Endpoint, *, tables: int, table_size: int) -> None:
    """Create ``tables`` sbtest tables of ``table_size`` rows (the database must exist)."""
    _run([*_args("oltp_read_write", endpoint, tables=tables, table_size=table_size), "prepare"], timeout=600)


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise SysbenchError(f"no {pattern!r} in sysbench output: {text[-1500:]}")
    return float(match.group(1))


def parse_report(text: str) -> SysbenchResult:
    """Read the figures of a ``sysbench ... run`` report."""
    return SysbenchResult(
        tps=_number(r"transactions:\s+\d+\s+\(([\d.]+) per sec", text),
        qps=_number(r"queries:\s+\d+\s+\(([\d.]+) per sec", text),
        p95_ms=_number(r"95th percentile:\s+([\d.]+)", text),
        errors=int(_number(r"ignored errors:\s+(\d+)", text)),
        reconnects=int(_number(r"reconnects:\s+(\d+)", text)),
        seconds=_number(r"total time:\s+([\d.]+)s", text),
    )


def run(
    workload: str, endpoint: Endpoint, *, threads: int, seconds: int, tables: int, table_size: int
) -> SysbenchResult:
    """Run ``workload`` (a key of ``WORKLOADS``) for ``seconds`` with ``threads`` client threads."""
    argv = [
        *_args(WORKLOADS[workload], endpoint, tables=tables, table_size=table_size),
        f"--threads={threads}",
        f"--time={seconds}",
        "--percentile=95",
        "--report-interval=0",
        "--db-ps-mode=auto",
        "run",
    ]
    return parse_report(_run(argv, timeout=seconds + 120))
