"""``bench.*`` tasks."""


from invoke.context import Context as _LockContext
from invoke.tasks import task as _lock_task


@_lock_task(help={"runs": "runs per fault for consul-lock (median reported)", "stock_runs":
                  "runs per fault for stock consul lock (slow: 15-45 s each)", "json": "write the figures here",
                  "faults": "comma-separated subset of: drain, proxy SIGKILL, lock SIGKILL, agent SIGKILL, "
                  "instance pause"})
def lock(c: _LockContext, runs: int = 5, stock_runs: int = 1, json: str | None = None, faults: str = "") -> None:
    """Failover time (fault -> first write through mysql.service.consul) of consul-lock vs stock consul lock."""
    import json as jsonlib
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from cf_mysql_consul.benchmarks.lock import FAULTS, results_json, run_bench
    from cf_mysql_consul.lab.lab import Lab

    console = Console()
    lab = Lab.from_manifest(log=lambda line: console.print(f"[dim]lab: {line}[/dim]"))
    chosen = tuple(f.strip() for f in faults.split(",") if f.strip()) or FAULTS
    results = run_bench(lab, runs=runs, stock_runs=stock_runs, faults=chosen,
                        log=lambda line: console.print(f"[dim]{line}[/dim]"))
    data = results_json(results)
    table = Table(title=f"bench.lock: fault -> first write through mysql.service.consul via the standby "
                        f"(median of {runs}; stock: {stock_runs})")
    for col in ("fault", "consul-lock s", "stock consul lock s", "ratio", "overlap ms (ours / stock)"):
        table.add_column(col)

    def fmt(v: float | None) -> str:
        return "timeout" if v is None else f"{v:.2f}"

    for row in data["summary"]:
        ratio = f"{row['ours'] / row['stock']:.2f}" if row["ours"] is not None and row["stock"] else "-"
        table.add_row(row["fault"], fmt(row["ours"]), fmt(row["stock"]) if row["stock_runs"] else "-", ratio,
                      f"{row['ours_max_overlap_ms']:.0f} / {row['stock_max_overlap_ms']:.0f}")
    console.print(table)
    if json:
        Path(json).write_text(jsonlib.dumps(data, indent=2, default=str))
        console.print(f"figures written to {json}")
