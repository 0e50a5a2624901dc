"""``chaos.*`` tasks: a seeded campaign of faults on a lab of its own, with a report."""

from __future__ import annotations

import sys

from invoke.context import Context
from rich.console import Console
from rich.markup import escape

from cf_mysql_consul_tools.tasks.cli import TaskFailed, UsageError, number, task

DEFAULT_PREFIX = "127.0.18"


@task(needs="lab", accepts={"minutes": number(above=0)},
      help={"seed": "seed of the schedule (the same seed replays the same schedule)",
            "minutes": "length of the campaign (no fault starts after it; the last one finishes)",
            "faults": "comma-separated kinds to draw from (default: kill, pause, partition, consul_leader, "
                      "rolling_deploy)",
            "out": "report directory (default: .chaos/seed-N-TIMESTAMP)",
            "prefix": f"lab address prefix (default: $LAB_ADDRESS_PREFIX, else {DEFAULT_PREFIX})",
            "root": "lab state directory, relative to the checkout (default: $LAB_ROOT, else .lab-chaos)",
            "keep_lab": "leave the lab running afterwards"})
def run(c: Context, seed: int = 1, minutes: float = 10.0, faults: str = "", out: str | None = None,
        prefix: str | None = None, root: str | None = None, keep_lab: bool = False) -> None:
    """A seeded random schedule of faults (kill, pause, partition of any instance; loss of the Consul leader;
    rolling deploy of mysql) under client writes; fails only when a safety invariant breaks (two proxies
    serving, an acknowledged write lost); availability misses are reported. HTML + JSON report."""
    from datetime import datetime
    from pathlib import Path

    from cf_mysql_consul_tools.benchmarks.labrun import bench_lab, lab_location
    from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
    from cf_mysql_consul_tools.chaos.campaign import run_campaign
    from cf_mysql_consul_tools.chaos.report import write_report
    from cf_mysql_consul_tools.chaos.schedule import KINDS, ScheduleError, make_schedule
    from cf_mysql_consul_tools.lab.manifest import load_lab_deployment

    console = Console(width=None if sys.stdout.isatty() else 140)
    kinds = tuple(k.strip() for k in faults.split(",") if k.strip()) or KINDS
    try:  # refuse bad options before a lab comes up
        make_schedule(seed, minutes, [(i.name, i.group) for i in load_lab_deployment().instances], kinds)
    except ScheduleError as exc:
        raise UsageError(str(exc)) from None
    address_prefix, state = lab_location(prefix, root, default_prefix=DEFAULT_PREFIX,
                                         default_root=REPO_ROOT / ".lab-chaos")
    target = Path(out) if out else REPO_ROOT / ".chaos" / f"seed-{seed}-{datetime.now():%Y%m%d-%H%M%S}"

    def log(line: str) -> None:
        console.print(f"[dim]chaos:[/dim] {escape(line)}", highlight=False)

    with bench_lab(address_prefix, str(state), log=log, keep=keep_lab, stop_locks=False) as lab:
        campaign = run_campaign(lab, seed=seed, minutes=minutes, kinds=kinds, log=log)
    files = write_report(campaign, target)
    console.print(f"{campaign.verdict}; report: {files['html']} (data: {files['json']})")
    if not campaign.ok:
        raise TaskFailed(f"{campaign.verdict}: see {files['html']}")
