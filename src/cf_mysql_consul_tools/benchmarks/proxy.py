"""``bench.proxy``: sysbench through our proxy against HAProxy and a direct connection.

Three targets, all ending at mysql/0 of a fresh lab: (a) mysql/0 directly, (b) HAProxy 2.6 in
TCP mode (started here, bound to ``<prefix>.20``), (c) proxy/0 with traffic enabled and pinned
to mysql/0 through ``preferredBackend``. Same threads and duration for every run; rounds are
interleaved and the target order rotates per round so that no target always runs first on a
noisy machine. Reported per (workload, target): median tps and median p95 over the rounds;
targets: ours/HAProxy tps >= 1.0 and ours' p95 <= HAProxy's.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.benchmarks import sysbench
from cf_mysql_consul_tools.benchmarks.haproxy import HAProxy, Server, tcp_config, wait_port_free
from cf_mysql_consul_tools.benchmarks.labproxy import LabProxy
from cf_mysql_consul_tools.benchmarks.labrun import bench_lab, lab_location
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.waiting import wait_until

TARGETS = ("direct", "haproxy", "ours")
HAPROXY_HOST_SUFFIX = 20


@dataclass(frozen=True, slots=True)
class ProxyBenchOptions:
    """What to run."""

    rounds: int = 3
    seconds: int = 10
    threads: int = 8
    workloads: tuple[str, ...] = ("point_select", "read_write")
    tables: int = 4
    table_size: int = 10000
    haproxy_threads: int | None = None


@dataclass(frozen=True, slots=True)
class Figures:
    """Medians over the rounds for one (workload, target), plus every round's raw figures."""

    tps: float
    p95_ms: float
    errors: int
    runs: tuple[sysbench.SysbenchResult, ...]


def summarize(runs: list[sysbench.SysbenchResult]) -> Figures:
    """Median tps and p95 of ``runs``."""
    return Figures(
        tps=statistics.median(r.tps for r in runs),
        p95_ms=statistics.median(r.p95_ms for r in runs),
        errors=sum(r.errors for r in runs),
        runs=tuple(runs),
    )


def verdicts(figures: dict[str, dict[str, Figures]]) -> dict[str, dict[str, Any]]:
    """Per workload: ratios ours/HAProxy and ours/direct, and whether the targets are met."""
    result = {}
    for workload, by_target in figures.items():
        ours, ha, direct = by_target["ours"], by_target["haproxy"], by_target["direct"]
        ratio = ours.tps / ha.tps if ha.tps else 0.0
        result[workload] = {
            "tps_ratio_ours_over_haproxy": round(ratio, 3),
            "tps_ratio_ours_over_direct": round(ours.tps / direct.tps if direct.tps else 0.0, 3),
            "p95_ms_ours": ours.p95_ms,
            "p95_ms_haproxy": ha.p95_ms,
            "target_tps_ratio_min": 1.0,
            "target_p95_ms_max": ha.p95_ms,
            "tps_target_met": ratio >= 1.0,
            "p95_target_met": ours.p95_ms <= ha.p95_ms,
        }
    return result


def _spread(values: list[float]) -> str:
    return f"{min(values):.0f}-{max(values):.0f}" if len(values) > 1 else ""


def print_table(console: Console, figures: dict[str, dict[str, Figures]], options: ProxyBenchOptions) -> None:
    """The results table: tps (median, range), p95 and ratios ours/HAProxy."""
    table = Table(
        title=f"bench.proxy: sysbench, {options.threads} threads, {options.rounds} rounds x {options.seconds} s "
        "(medians; range over rounds)"
    )
    for column in ("workload", "target", "tps", "tps range", "p95 ms", "errors", "ours/HAProxy tps", "target"):
        table.add_column(column, justify="left" if column in ("workload", "target") else "right")
    checks = verdicts(figures)
    for workload, by_target in figures.items():
        for target in TARGETS:
            fig = by_target[target]
            ratio, goal = "", ""
            if target == "ours":
                check = checks[workload]
                met = check["tps_target_met"] and check["p95_target_met"]
                ratio = f"{check['tps_ratio_ours_over_haproxy']:.2f}"
                goal = f"[{'green' if met else 'red'}]>= 1.00, p95 <= {check['p95_ms_haproxy']:.2f}[/]"
            table.add_row(
                workload,
                target,
                f"{fig.tps:.0f}",
                _spread([r.tps for r in fig.runs]),
                f"{fig.p95_ms:.2f}",
                str(fig.errors),
                ratio,
                goal,
            )
    console.print(table)


def write_json(path: Path, figures: dict[str, dict[str, Figures]], options: ProxyBenchOptions, lab: str) -> None:
    """Every figure, with the targets beside them."""
    document = {
        "benchmark": "bench.proxy",
        "lab": lab,
        "options": asdict(options),
        "targets": {"tps_ratio_ours_over_haproxy_min": 1.0, "p95_ms": "ours <= haproxy"},
        "results": {
            workload: {
                target: {
                    "tps_median": fig.tps,
                    "p95_ms_median": fig.p95_ms,
                    "errors": fig.errors,
                    "rounds": [asdict(r) for r in fig.runs],
                }
                for target, fig in by_target.items()
            }
            for workload, by_target in figures.items()
        },
        "verdicts": verdicts(figures),
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def _prepare(lab: Lab, options: ProxyBenchOptions, log: Callable[[str], None]) -> sysbench.Endpoint:
    node = lab.instance("mysql/0")
    with lab.mysql("mysql/0") as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS sbtest")
        cur.execute("CREATE DATABASE sbtest")
    direct = sysbench.Endpoint(node.address, 3306, *access.mysql_admin(lab.deployment))
    log(f"sysbench prepare: {options.tables} tables x {options.table_size} rows on mysql/0")
    sysbench.prepare(direct, tables=options.tables, table_size=options.table_size)
    return direct


def _serve_through_mysql0(proxy: LabProxy) -> None:
    proxy.enable(preferred="mysql/0", message="bench.proxy: pinned to mysql/0")
    wait_until(
        lambda: proxy.active() == "mysql/0" and proxy.health_status() == 200,
        timeout=60,
        what="proxy/0 to serve through mysql/0",
    )


def run_proxy_bench(
    options: ProxyBenchOptions,
    *,
    prefix: str | None,
    root: str | None,
    console: Console,
    json_path: str | None = None,
    keep_lab: bool = False,
) -> dict[str, dict[str, Figures]]:
    """Bring up a lab, run every (round, workload, target), print the table, write the JSON."""

    def log(line: str) -> None:
        console.print(f"[dim]bench.proxy:[/dim] {line}")

    address_prefix, _ = lab_location(prefix, root)
    raw: dict[str, dict[str, list[sysbench.SysbenchResult]]] = {w: {t: [] for t in TARGETS} for w in options.workloads}
    with bench_lab(prefix, root, log=log, keep=keep_lab) as lab:
        direct = _prepare(lab, options, log)
        proxy = LabProxy.of(lab, "proxy/0")
        _serve_through_mysql0(proxy)
        ha_host = f"{address_prefix}.{HAPROXY_HOST_SUFFIX}"
        wait_port_free(ha_host, 3306)
        config = tcp_config(
            ha_host, 3306, [Server("mysql0", direct.host, direct.port)], nbthread=options.haproxy_threads
        )
        endpoints = {
            "direct": direct,
            "haproxy": sysbench.Endpoint(ha_host, 3306, direct.user, direct.password),
            "ours": sysbench.Endpoint(proxy.host, proxy.port, direct.user, direct.password),
        }
        with HAProxy(config, ha_host, 3306):
            log(f"HAProxy 2.6 (TCP mode) on {ha_host}:3306 -> mysql/0; ours: proxy/0 {proxy.host}:{proxy.port}")
            for round_no in range(options.rounds):
                order = TARGETS[round_no % 3 :] + TARGETS[: round_no % 3]
                for workload in options.workloads:
                    for target in order:
                        result = sysbench.run(
                            workload,
                            endpoints[target],
                            threads=options.threads,
                            seconds=options.seconds,
                            tables=options.tables,
                            table_size=options.table_size,
                        )
                        raw[workload][target].append(result)
                        log(
                            f"round {round_no + 1}/{options.rounds} {workload:<12} {target:<8} "
                            f"{result.tps:8.0f} tps  p95 {result.p95_ms:6.2f} ms  errors {result.errors}"
                        )
            if proxy.active() != "mysql/0":
                raise RuntimeError(f"proxy/0 left mysql/0 during the benchmark: {proxy.cluster()}")
    figures = {w: {t: summarize(runs) for t, runs in by_target.items()} for w, by_target in raw.items()}
    print_table(console, figures, options)
    if json_path:
        write_json(Path(json_path), figures, options, f"{address_prefix}.x")
        log(f"figures written to {json_path}")
    return figures
