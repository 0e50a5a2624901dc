"""``lab.*`` tasks: bring the local lab up and down, show its state, read its logs, inject faults."""

from __future__ import annotations

import sys
from pathlib import Path

from invoke.context import Context
from rich.console import Console
from rich.table import Table

from cf_mysql_consul_tools.lab.lab import CONSUL_LEADER, REST, Lab
from cf_mysql_consul_tools.tasks.cli import TaskFailed, UsageError, number, task

# Wide enough for the status table when output is a pipe or a CI log (rich assumes 80 there).
console = Console(width=None if sys.stdout.isatty() else 140)


def _lab(manifest: str | None) -> Lab:
    return Lab.from_manifest(Path(manifest) if manifest else None,
                             log=lambda line: console.print(f"[dim]lab:[/dim] {line}"))


def print_status(lab: Lab) -> None:
    """Print the lab's status table."""
    table = Table(title=f"lab: {lab.deployment.name}")
    for col in ("instance", "address", "processes", "galera"):
        table.add_column(col)
    for row in lab.status():
        colour = {"running": "green", "paused": "yellow", "stopped": "red"}
        processes = "\n".join(
            f"{p.key} [{colour[p.state]}]{p.state}[/]" + (f" ({p.pid})" if p.pid else "") for p in row.processes
        ) or "[red]not started[/]"
        table.add_row(row.name, row.address, processes, row.galera)
    console.print(table)
    from cf_mysql_consul_tools.lab.tier import describe, faults, tier

    if lab.deployment.with_job("proxy"):
        lines = describe(tier(lab))
    else:
        lines = ["faults: " + ("; ".join(faults(lab)) or "none")]
    for line in lines:
        console.print(line, markup=False, highlight=False)


@task(needs="lab", help={"manifest": "deployment manifest (default: the lab's own)"})
def up(c: Context, manifest: str | None = None) -> None:
    """Start the lab from nothing (or from kept state) and wait until every part is healthy."""
    lab = _lab(manifest)
    seconds = lab.up()
    print_status(lab)
    console.print(f"[bold green]lab up in {seconds:.1f}s[/]")


@task(needs="lab", help={"manifest": "deployment manifest (default: the lab's own)"})
def status(c: Context, manifest: str | None = None) -> None:
    """Show every instance, its processes and Galera's view; which proxy serves, the lock, DNS, faults."""
    print_status(_lab(manifest))


@task(needs="lab", help={"purge": "also delete all lab state (datadirs, logs)", "manifest": "deployment manifest"})
def down(c: Context, purge: bool = False, manifest: str | None = None) -> None:
    """Stop every process the lab started; with --purge also delete its state."""
    lab = _lab(manifest)
    lab.down(purge=purge)
    left = lab.alive_pids()
    if left:
        raise TaskFailed(f"processes still alive after lab.down: {left}")
    console.print("lab down" + (" and purged" if purge else ""))


@task(needs="lab", accepts={"lines": number(minimum=1)},
      help={"instance": "group/index, e.g. mysql/0", "lines": "lines per file", "manifest": "deployment manifest"})
def logs(c: Context, instance: str, lines: int = 40, manifest: str | None = None) -> None:
    """Print the tail of every log file of one instance."""
    for path in _lab(manifest).log_files(instance):
        console.rule(str(path))
        text = path.read_text(errors="replace").splitlines()
        console.print("\n".join(text[-lines:]), markup=False, highlight=False)


def _fault(action: str, instance: str, process: str | None, manifest: str | None) -> None:
    lab = _lab(manifest)
    if instance == CONSUL_LEADER:
        instance = lab.consul_leader()
        console.print(f"{CONSUL_LEADER} is {instance}")
    lab.instance(instance)  # an unknown instance is refused before anything is done
    getattr(lab, action)(instance, process)
    print_status(lab)


_INSTANCE = f"group/index, or {CONSUL_LEADER} (the Consul Raft leader's instance)"


@task(needs="lab", help={"instance": "group/index", "process": "job.process, e.g. mysql.mariadbd (default: all)"})
def start(c: Context, instance: str, process: str | None = None, manifest: str | None = None) -> None:
    """Start an instance (or one of its processes)."""
    _fault("start", instance, process, manifest)


@task(needs="lab", help={"instance": _INSTANCE, "process": "job.process (default: all)"})
def stop(c: Context, instance: str, process: str | None = None, manifest: str | None = None) -> None:
    """Stop an instance (or one process): SIGTERM, then SIGKILL after 20 s."""
    _fault("stop", instance, process, manifest)


@task(needs="lab", help={"instance": _INSTANCE, "process": "job.process (default: all)"})
def kill(c: Context, instance: str, process: str | None = None, manifest: str | None = None) -> None:
    """SIGKILL an instance (or one process)."""
    _fault("kill", instance, process, manifest)


@task(needs="lab", help={"instance": _INSTANCE, "process": "job.process (default: all)"})
def pause(c: Context, instance: str, process: str | None = None, manifest: str | None = None) -> None:
    """SIGSTOP an instance (or one process): a hung node."""
    _fault("pause", instance, process, manifest)


@task(needs="lab", help={"instance": "group/index", "process": "job.process (default: all)"})
def resume(c: Context, instance: str, process: str | None = None, manifest: str | None = None) -> None:
    """SIGCONT what pause stopped."""
    _fault("resume", instance, process, manifest)


_SIDE = ("comma-separated instance names (mysql/0), instance-group names (consul) or "
         f"{CONSUL_LEADER}")


@task(needs="lab", help={"side_a": _SIDE, "side_b": _SIDE + f", or {REST} (every instance not in SIDE_A)",
            "manifest": "deployment manifest"})
def partition(c: Context, side_a: str, side_b: str, manifest: str | None = None) -> None:
    """Cut two groups of instances apart on the network, both ways (packets dropped on arrival); clients
    on the host still reach every instance. Adds to any partition in force; ./inv lab.heal lifts them."""
    lab = _lab(manifest)
    lab.partition(side_a, side_b)
    print_status(lab)


@task(needs="lab", help={"manifest": "deployment manifest"})
def heal(c: Context, manifest: str | None = None) -> None:
    """Lift every partition of the lab."""
    lab = _lab(manifest)
    healed = lab.heal()
    console.print("healed: " + ("; ".join(c.describe() for c in healed) if healed else "no partition was in force"))


@task(needs="lab", help={"rolling": "update instance by instance as BOSH does (the only mode)",
            "groups": "comma-separated instance groups (default: all, in manifest order)",
            "skip_drain": "do not run drain scripts (bosh deploy --skip-drain)", "manifest": "deployment manifest"})
def deploy(c: Context, rolling: bool = False, groups: str = "", skip_drain: bool = False,
           manifest: str | None = None) -> None:
    """Rolling deploy of the running lab: drain, stop, re-render, start, post-start, watch; per update block."""
    from cf_mysql_consul_tools.lab.deploy import rolling_deploy

    if not rolling:
        raise UsageError("--rolling is required: rolling deploys are the only kind (./inv lab.deploy --rolling)")
    lab = _lab(manifest)
    report = rolling_deploy(lab, groups=[g.strip() for g in groups.split(",") if g.strip()] or None,
                            skip_drain=skip_drain, log=lambda line: console.print(line, markup=False, highlight=False))
    print_status(lab)
    if not report.ok:
        raise TaskFailed(f"deploy failed: {report.error}")
