"""``bench.*`` tasks: each brings up its own lab, prints a table and can write its figures as JSON."""

from __future__ import annotations

import sys

from invoke.context import Context
from rich.console import Console

from cf_mysql_consul_tools.lab.mysql_ctl import MIN_DATABASE_STARTUP_TIMEOUT
from cf_mysql_consul_tools.tasks.cli import TaskFailed, UsageError, choice, number, task

_LAB_HELP = {"prefix": "lab address prefix, e.g. 127.0.41 (default: $LAB_ADDRESS_PREFIX, else 127.0.15)",
             "root": "lab state directory, relative to the checkout (default: $LAB_ROOT, else .lab-bench)",
             "keep_lab": "leave the lab running afterwards", "json": "write the figures (and targets) here"}


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 140)


@task(needs="lab", help={**_LAB_HELP, "runs": "runs per fault for consul-lock (median reported)", "stock_runs":
            "runs per fault for stock consul lock (slow: 15-45 s each)",
            "faults": "comma-separated subset of: drain, proxy SIGKILL, lock SIGKILL, agent SIGKILL, instance pause"})
def lock(c: Context, runs: int = 5, stock_runs: int = 1, json: str | None = None, faults: str = "",
         prefix: str | None = None, root: str | None = None, keep_lab: bool = False) -> None:
    """Failover time (fault -> first write through mysql.service.consul) of consul-lock vs stock consul lock."""
    import json as jsonlib
    from pathlib import Path

    from rich.table import Table

    from cf_mysql_consul_tools.benchmarks.labrun import bench_lab
    from cf_mysql_consul_tools.benchmarks.lock import FAULTS, results_json, run_bench

    console = _console()
    chosen = tuple(f.strip() for f in faults.split(",") if f.strip()) or FAULTS
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown:
        raise UsageError(f"--faults: unknown fault {unknown[0]!r} (known: {', '.join(FAULTS)})")

    def log(line: str) -> None:
        console.print(f"[dim]bench.lock: {line}[/dim]")

    with bench_lab(prefix, root, log=log, keep=keep_lab, stop_locks=False) as lab:
        results = run_bench(lab, runs=runs, stock_runs=stock_runs, faults=chosen, log=log)
    data = results_json(results)
    table = Table(title=f"bench.lock: fault -> first write through mysql.service.consul via the standby "
                        f"(median of {runs}; stock: {stock_runs})")
    for col in ("fault", "consul-lock s", "target s", "stock consul lock s", "ratio (target 0.1)",
                "overlap ms (ours / stock)"):
        table.add_column(col)

    def fmt(v: float | None) -> str:
        return "timeout" if v is None else f"{v:.2f}"

    for row in data["summary"]:
        ratio = f"{row['ours'] / row['stock']:.2f}" if row["ours"] is not None and row["stock"] else "-"
        target = f"< {row['target_seconds']:g}" if row["target_seconds"] else "-"
        table.add_row(row["fault"], fmt(row["ours"]), target, fmt(row["stock"]) if row["stock_runs"] else "-", ratio,
                      f"{row['ours_max_overlap_ms']:.0f} / {row['stock_max_overlap_ms']:.0f}")
    console.print(table)
    if json:
        Path(json).write_text(jsonlib.dumps(data, indent=2, default=str))
        console.print(f"figures written to {json}")


@task(needs="lab", accepts={"runs": number(minimum=0), "stock_runs": number(minimum=0), "hold": number(minimum=0)},
      help={**_LAB_HELP, "runs": "runs per scenario for consul-lock (median reported; 0: stock only)",
            "stock_runs": "runs per scenario for stock consul lock (0: none)",
            "scenarios": "comma-separated subset (default: all but the 300 s one); see the table's names",
            "long": "also run the 300 s Consul outage", "hold": "seconds each fault is held, for the scenarios "
            "whose name carries no duration (default 30)"})
def partition(c: Context, runs: int = 3, stock_runs: int = 1, scenarios: str = "", long: bool = False,
              hold: float = 0.0, json: str | None = None, prefix: str | None = None, root: str | None = None,
              keep_lab: bool = False) -> None:
    """Consul faults and network partitions: client outage, overlap of serving proxies (three sources), lost
    writes and time to re-arm, consul-lock vs stock consul lock, each beside the issue's target."""
    import json as jsonlib
    from pathlib import Path

    from rich.markup import escape

    from cf_mysql_consul_tools.benchmarks import partition as bench
    from cf_mysql_consul_tools.benchmarks.labrun import bench_lab
    from cf_mysql_consul_tools.benchmarks.watch import CLIENT_NOTE

    console = _console()
    try:
        chosen = [bench.scenario(n.strip()) for n in scenarios.split(",") if n.strip()] or \
            [s for s in bench.SCENARIOS if long or not s.long]
    except ValueError as exc:
        raise UsageError(f"--scenarios: {exc}") from None
    if runs + stock_runs == 0:
        raise UsageError("--runs and --stock-runs are both 0: nothing to measure")

    def log(line: str) -> None:
        console.print(f"[dim]bench.partition:[/dim] {escape(line)}", highlight=False)

    log(CLIENT_NOTE)
    with bench_lab(prefix, root, log=log, keep=keep_lab, stop_locks=False) as lab:
        results, failed = bench.run_bench(lab, chosen, runs=runs, stock_runs=stock_runs, hold_s=hold or None,
                                          log=log)
    bench.print_table(console, results, runs=runs, stock_runs=stock_runs, failed=failed)
    if json:
        Path(json).write_text(jsonlib.dumps(bench.results_json(results), indent=2))
        console.print(f"figures written to {json}")


@task(needs="lab", help={**_LAB_HELP, "rounds": "interleaved rounds", "seconds": "seconds per sysbench run",
                  "threads": "sysbench threads", "workloads": "comma-separated: point_select,read_write",
                  "haproxy_threads": "HAProxy nbthread (default: HAProxy's own, one per CPU)"})
def proxy(c: Context, rounds: int = 3, seconds: int = 10, threads: int = 8,
          workloads: str = "point_select,read_write", haproxy_threads: int = 0, json: str | None = None,
          prefix: str | None = None, root: str | None = None, keep_lab: bool = False) -> None:
    """sysbench through our proxy vs HAProxy (TCP) vs mysql/0 directly: tps, p95, ratios."""
    from cf_mysql_consul_tools.benchmarks.proxy import ProxyBenchOptions, run_proxy_bench

    options = ProxyBenchOptions(rounds=rounds, seconds=seconds, threads=threads,
                                workloads=tuple(w.strip() for w in workloads.split(",") if w.strip()),
                                haproxy_threads=haproxy_threads or None)
    run_proxy_bench(options, prefix=prefix, root=root, console=_console(), json_path=json, keep_lab=keep_lab)


@task(needs="lab", help={**_LAB_HELP, "runs": "runs per fault (median reported)",
                         "faults": "comma-separated: kill,pause",
                         "galera_options": "Galera provider options for every member, e.g. "
                                           "evs.suspect_timeout=PT2S,evs.keepalive_period=PT0.5S (default: Galera's)"})
def failover(c: Context, runs: int = 5, faults: str = "kill,pause", json: str | None = None,
             prefix: str | None = None, root: str | None = None, keep_lab: bool = False,
             galera_options: str = "") -> None:
    """Client-visible outage (fault -> first write) through our proxy vs HAProxy's checks, same faults."""
    from cf_mysql_consul_tools.benchmarks.failover import run_failover_bench
    from cf_mysql_consul_tools.benchmarks.labrun import parse_galera_options

    try:
        options = parse_galera_options(galera_options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    run_failover_bench(runs=runs, faults=tuple(f.strip() for f in faults.split(",") if f.strip()),
                       prefix=prefix, root=root, console=_console(), json_path=json, keep_lab=keep_lab,
                       galera_options=options)


@task(needs="lab", accepts={"only": choice("A", "B", "AB"), "start_timeout": number(
    minimum=MIN_DATABASE_STARTUP_TIMEOUT, why="cf-mysql v26's mariadb_ctrl gets 0.8 x it and tries every 5 s; "
                                             "its first try comes before mysqld is up")},
      help={**_LAB_HELP, "prefix": "lab address prefix of both sides, one after the other (default: "
                                   "$LAB_ADDRESS_PREFIX, else 127.0.16)",
            "root": "state directory, relative to the checkout: each side's lab in ROOT/A, ROOT/B, logs in "
                    "ROOT/logs (default: $LAB_ROOT, else .lab-bench-deploy)",
            "keep_lab": "leave the last side's lab running and every side's state on disk",
            "rate": "writes/s of the steady load (total)", "writers": "writer threads",
            "payload": "bytes per row", "groups": "instance groups to deploy (default: mysql)",
            "start_timeout": "the mysql job's database_startup_timeout the deploy rolls out (cf-mysql v26's start: "
                             "mariadb_ctrl gives up after 0.8 x it), s",
            "gcache": "gcache size for both runs (e.g. 16M; default: the manifest's)",
            "prefill": "MB of rows loaded before the deploy (both runs)",
            "downtime": "seconds each node stays down (VM recreate stand-in, both runs)",
            "only": "A, B or AB (default)"})
def deploy(c: Context, rate: float = 400.0, writers: int = 4, payload: int = 1000, groups: str = "mysql",
           start_timeout: float = 150.0, gcache: str = "", prefill: int = 0, downtime: float = 0.0, only: str = "AB",
           json: str | None = None, prefix: str | None = None, root: str | None = None,
           keep_lab: bool = False) -> None:
    """Rolling deploy under a steady write load: without (A) vs with (B) galera-drain, side by side."""
    from collections.abc import Callable
    from pathlib import Path

    from rich.table import Table

    from cf_mysql_consul_tools.benchmarks import deploy as bench
    from cf_mysql_consul_tools.benchmarks.labrun import lab_location

    address_prefix, state = lab_location(prefix, root, default_prefix=bench.DEFAULT_PREFIX,
                                         default_root=bench.DEFAULT_ROOT)
    console = _console()
    chosen = tuple(g.strip() for g in groups.split(",") if g.strip())
    settings = bench.Settings(start_timeout=start_timeout, groups=chosen, writers=writers, rate=rate,
                              payload_bytes=payload, prefill_mb=prefill, downtime_seconds=downtime,
                              gcache_size=gcache or None)
    results = bench.run_ab(settings, prefix=address_prefix, root=state, only=only, keep_lab=keep_lab,
                           log=lambda line: console.print(line, markup=False, highlight=False, style="dim"))
    table = Table(title=f"bench.deploy: rolling deploy of {groups} under {rate:g} writes/s ({payload} B rows), "
                        f"cf-mysql start behaviour (database_startup_timeout {start_timeout:g} s), "
                        f"{prefill} MB prefilled, gcache {gcache or 'manifest'}, {downtime:g} s down per node")
    table.add_column("figure")
    for r in results:
        table.add_column(r.variant)

    def ran(fmt: Callable[[bench.RunResult], str]) -> Callable[[bench.RunResult], str]:
        return lambda r: "-" if r.failed else fmt(r)

    rows: list[tuple[str, Callable[[bench.RunResult], str]]] = [
        ("side", lambda r: f"COULD NOT RUN: {r.failed}" if r.failed else f"ran (lab up in {r.lab_up_seconds:.1f} s)"),
        ("deploy", ran(lambda r: "finished" if r.deploy_ok else f"FAILED: {r.deploy_error}")),
        ("deploy duration s", ran(lambda r: f"{r.deploy_seconds:.1f}")),
        ("  drain / pre-start / post-start / watch s", ran(lambda r: " / ".join(
            f"{r.step_seconds.get(k, 0):.1f}" for k in ("drain", "pre-start", "post-start", "watch")))),
        ("client errors / attempts", ran(lambda r: f"{r.client_errors} / {r.attempts}")),
        ("errors by code", ran(lambda r: ", ".join(f"{k}: {v}" for k, v in sorted(r.errors_by_code.items())) or "-")),
        ("acknowledged writes", ran(lambda r: str(r.acked))),
        ("acknowledged missing per node", ran(lambda r: ", ".join(f"{k}: {v}" for k, v in r.missing.items()))),
        ("mysqld starts per node", ran(lambda r: ", ".join(f"{k}: {v}" for k, v in r.mysqld_starts.items()))),
        ("start timeouts (cycles)", ran(lambda r: ", ".join(f"{k}: {v}" for k, v in r.start_timeouts.items()))),
        ("logs", lambda r: r.logs or "-"),
    ]
    for label, fmt in rows:
        table.add_row(label, *[fmt(r) for r in results])
    console.print(table)
    for r in results:
        console.print(f"{r.variant}: steps", markup=False)
        for line in r.steps:
            console.print(f"  {line}", markup=False, highlight=False)
    if json:
        Path(json).write_text(bench.to_json(results, {
            "rate": rate, "writers": writers, "payload": payload, "groups": groups, "start_timeout": start_timeout,
            "gcache": gcache, "prefill": prefill, "downtime": downtime, "prefix": address_prefix, "root": str(state)}))
        console.print(f"figures written to {json}")
    failed = [r for r in results if r.failed]
    if failed:
        raise TaskFailed("bench.deploy: " + "; ".join(f"side {r.side} could not run ({r.failed})" for r in failed))



@task(needs="lab", accepts={"lrps": number(minimum=10), "rounds": number(minimum=1)},
      help={**_LAB_HELP, "prefix": "lab address prefix (default: $LAB_ADDRESS_PREFIX, else 127.0.17)",
            "lrps": "LRPs seeded before the reads (the seed's size: 50000)", "rounds": "rounds of every read",
            "profile": "write a py-spy profile (speedscope JSON) of our reads here"})
def bulk(c: Context, lrps: int = 50000, rounds: int = 3, json: str | None = None, prefix: str | None = None,
         root: str | None = None, keep_lab: bool = False, profile: str | None = None) -> None:
    """benchmark-bbs's bulk reads alone (median of rounds) beside the MariaDB client's floor and the seed's Go BBS."""
    import json as jsonlib
    from dataclasses import asdict
    from pathlib import Path

    from rich.table import Table

    from cf_mysql_consul_tools.benchmarks import bulk as bench
    from cf_mysql_consul_tools.benchmarks.labrun import lab_location

    address_prefix, state = lab_location(prefix, root, default_prefix=bench.DEFAULT_PREFIX)
    console = _console()
    figures = bench.run_bulk_bench(lrps=lrps, rounds=rounds, prefix=address_prefix, root=str(state),
                                   keep_lab=keep_lab, profile=Path(profile) if profile else None,
                                   log=lambda line: console.print(f"[dim]bench.bulk: {line}[/dim]"))
    table = Table(title=f"bench.bulk: {lrps} LRPs, each read alone through proxy/0, median of {rounds} rounds")
    for col in ("read", "ours s", "range s", "floor s (MariaDB client)", "ours / floor", "seed Go BBS s",
                "ours / seed (target <= 3)"):
        table.add_column(col)
    for f in figures:
        floor = f.floor_median
        seed = max(f.seed) if f.seed else None
        table.add_row(f.label, f"{f.ours_median:.3f}", f"{min(f.ours):.2f}-{max(f.ours):.2f}",
                      f"{floor:.3f}" if floor is not None else "-",
                      f"{f.ours_median / floor:.1f}" if floor else "-",
                      " / ".join(f"{s:.3f}" for s in f.seed) or "-",
                      f"{f.ours_median / seed:.1f}" if seed else "-")
    console.print(table)
    if json:
        Path(json).write_text(jsonlib.dumps({"benchmark": "bench.bulk", "lrps": lrps, "rounds": rounds,
                                             "results": [asdict(f) for f in figures]}, indent=2))
        console.print(f"figures written to {json}")
