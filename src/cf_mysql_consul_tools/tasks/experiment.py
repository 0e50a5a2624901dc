"""``experiment.*`` tasks: run the seed's experiments on the lab (or a BOSH deployment), list them, compare runs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from cf_mysql_consul_tools.experiments import bosh_target, runner, spec
from cf_mysql_consul_tools.experiments import compare as compare_runs
from cf_mysql_consul_tools.tasks import bosh as bosh_tasks
from cf_mysql_consul_tools.tasks.cli import TaskFailed, UsageError, choice, install, number, task

console = Console(width=None if sys.stdout.isatty() else 160)


class RichHooks:
    """A progress bar per workload phase."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def phase(self, name: str, total: int) -> None:
        """Add the phase's bar."""
        self.tasks[name] = self.progress.add_task(name, total=total)

    def advance(self, name: str, done: int) -> None:
        """Move the bar."""
        self.progress.update(self.tasks[name], completed=done)


def _print_result(result: runner.RunResult) -> None:
    colour = {"PASSED": "green", "FAILED": "red"}[result.verdict.status]
    table = Table(title=f"{result.spec.name}: {result.spec.title}")
    for col in ("check", "result", "detail"):
        table.add_column(col, overflow="fold")
    for c in result.verdict.checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAILED[/]", escape(c.detail))
    if result.verdict.checks:
        console.print(table)
    probe = result.figures.get("throughput_probe")
    if probe:
        console.print(f"seeding throughput (median of {len(probe['rounds']['through_proxy'])} rounds of "
                      f"{probe['lrps']} LRPs each): {probe['through_proxy']:.0f} LRPs/s through the proxy, "
                      f"{probe['direct_to_node']:.0f} LRPs/s directly to a node, ratio {probe['ratio']:.3f}")
    console.print(f"[bold {colour}]{result.verdict.status}[/]: {escape(result.verdict.summary)}")
    console.print(f"report: {result.out / 'report.html'}  ({result.seconds:.0f}s)")


@task(name="run", iterable=["ops"], accepts={
    "target": choice("lab", "bosh"), "clients": choice(*spec.CLIENTS), "probe_lrps": number(minimum=0)}, help={
    "name": "experiment name (see experiment.list) or a definition file",
    "target": "lab (default: the local lab, brought up from nothing) or bosh (a deployment of this release)",
    "scale": f"multiply the LRP count and the fault points, above 0 and at most {spec.MAX_SCALE:g} "
             "(e.g. 0.04 = 2,000 LRPs)",
    "out": "run directory (default .experiments/NAME-TIMESTAMP)",
    "clients": "auto (default: dns when consul-lock runs, else fixed), fixed or dns",
    "keep_lab": "leave the lab running afterwards",
    "probe_lrps": "after the run, seed this many LRPs through the proxy and directly to a node, 3 rounds each in "
                  "turns (median LRPs/s; 0: no probe); scaled with --scale below 1",
    "dry_run": "with --target bosh: print every bosh command the run would run, in order, and exit",
    "environment": "--target bosh: bosh environment alias", "deployment": "--target bosh: deployment name",
    "vars_store": "--target bosh: the deployment's vars store (default: the one ./inv bosh.deploy writes)",
    "manifest": "--target bosh: the deployment manifest (default manifests/cf-mysql-consul.yml)",
    "ops": "an ops file by name (manifests/operations) or path, repeatable: the lab's manifest gets it (e.g. "
           "no-galera-drain); --target bosh: one the deployment was deployed with"})
def run_(c: Context, name: str, target: str = "lab", scale: float = 1.0, out: str | None = None,
         clients: str | None = None, keep_lab: bool = False, probe_lrps: int = 1000, environment: str = "vbox",
         deployment: str = "cf-mysql-consul", dry_run: bool = False, vars_store: str | None = None,
         manifest: str | None = None, ops: list[str] | None = None) -> None:
    """Run one experiment end to end; exits non-zero unless the verdict is PASSED."""
    definition = spec.load(name)
    scaled = spec.scaled(definition, scale)  # refuses a scale out of bounds before anything starts
    if target == "bosh":
        settings = bosh_target.BoshSettings(
            manifest=Path(manifest) if manifest else bosh_tasks.MANIFEST,
            vars_store=Path(vars_store) if vars_store else bosh_tasks.VARS_STORE,
            environment=environment, deployment=deployment, ops=tuple(bosh_tasks.ops_path(o) for o in ops or []))
        _run_bosh(definition, scaled, settings, scale=scale, out=out, clients=clients, dry_run=dry_run,
                  probe_lrps=probe_lrps)
        return
    if dry_run:
        raise UsageError("--dry-run prints the bosh commands of a run: use it with --target bosh")
    ops_files = _lab_ops(definition, ops)
    install("lab")
    result = _run_lab(definition, scale=scale, out=Path(out) if out else None, clients=clients, keep_lab=keep_lab,
                      probe_lrps=probe_lrps, ops_files=ops_files)
    _print_result(result)
    if result.verdict.status == "FAILED":
        raise Exit(code=1)


def _lab_ops(definition: spec.Experiment, ops: list[str] | None) -> list[Path]:
    """``--ops`` as paths, applied once to the lab's manifest before anything starts (an ``OpsError``
    names the file and the path that does not apply)."""
    ops_files = [bosh_tasks.ops_path(o) for o in ops or []]
    runner.lab_manifest(definition, ops_files)
    return ops_files


def _run_lab(definition: spec.Experiment, *, scale: float, out: Path | None, clients: str | None, keep_lab: bool,
             probe_lrps: int, ops_files: list[Path]) -> runner.RunResult:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        return runner.run(definition, scale=scale, out=out, clients=clients, keep_lab=keep_lab,
                          display=RichHooks(progress), probe_lrps=round(probe_lrps * min(scale, 1)),
                          ops_files=ops_files, log=lambda line: progress.console.print(f"[dim]{escape(line)}[/]"))


@task(iterable=["ops"], accepts={"clients": choice(*spec.CLIENTS), "probe_lrps": number(minimum=0)}, help={
    "name": "experiment name (see experiment.list) or a definition file",
    "ops": "ops file(s) for side A, by name (manifests/operations) or path, e.g. no-galera-drain (repeatable)",
    "scale": f"multiply the LRP count and the fault points, above 0 and at most {spec.MAX_SCALE:g} "
             "(e.g. 0.1 = 5,000 LRPs)",
    "out": "directory of the A/B (default .experiments/NAME-ab-TIMESTAMP): side A in OUT/A, side B in OUT/B",
    "clients": "auto (default: dns when consul-lock runs, else fixed), fixed or dns",
    "probe_lrps": "after each run, seed this many LRPs through the proxy and directly to a node (0: no probe)",
    "markdown": "also print the A/B as a Markdown table"})
def ab(c: Context, name: str, ops: list[str] | None = None, scale: float = 1.0, out: str | None = None,
       clients: str | None = None, probe_lrps: int = 0, markdown: bool = False) -> None:
    """A/B on the lab: side A is NAME with the --ops files (e.g. without galera-drain), side B as defined; each on a
    fresh lab, then side by side. Exits 0 when B passes and A does not (the A/B shows the difference), else 1."""
    definition = spec.load(name)
    spec.scaled(definition, scale)  # refuses a scale out of bounds before anything starts
    if not ops:
        raise UsageError("--ops: give side A's ops file(s), e.g. --ops no-galera-drain")
    ops_files = _lab_ops(definition, ops)
    install("lab")
    base = Path(out) if out else runner.run_dir(f"{definition.name}-ab")
    labels = (f"A: with {', '.join(p.stem for p in ops_files)}", "B: as defined")
    for side, files in (("A", ops_files), ("B", [])):
        console.rule(f"{definition.name} side {side}: {labels[side == 'B']}")
        result = _run_lab(definition, scale=scale, out=base / side, clients=clients, keep_lab=False,
                          probe_lrps=probe_lrps, ops_files=files)
        _print_result(result)
    a, b = compare_runs.load_run(base / "A"), compare_runs.load_run(base / "B")
    table = Table(title=f"{definition.name} A/B (scale {scale:g})")
    for col in ("", *labels):
        table.add_column(col, overflow="fold")
    for row in compare_runs.ab_rows(a, b):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    (base / "ab.md").write_text(compare_runs.markdown_ab(definition.name, a, b, labels=labels))
    if markdown:
        print(compare_runs.markdown_ab(definition.name, a, b, labels=labels), end="")
    console.print(f"A/B written to {base / 'ab.md'}")
    if b["status"] != "PASSED" or a["status"] == "PASSED":
        raise TaskFailed(f"A {a['status']}, B {b['status']}: "
                         + ("the A/B shows no difference at these settings" if a["status"] == b["status"]
                            else "B must pass and A must not"))


def _run_bosh(definition: spec.Experiment, scaled: spec.Experiment, settings: bosh_target.BoshSettings, *,
              scale: float, out: str | None, clients: str | None, dry_run: bool, probe_lrps: int) -> None:
    """``--target bosh``: the plan (``--dry-run``), or the run against the deployment."""
    if dry_run:
        for line in bosh_target.plan(scaled, settings, clients=clients):
            print(line)  # plain print: rich would wrap the long command lines
        return
    if shutil.which("bosh") is None:
        raise UsageError(bosh_target.NO_CLI)
    out_dir = Path(out) if out else runner.run_dir(definition.name)

    def log(line: str) -> None:
        console.print(escape(line), style="dim")  # escaped: pkill patterns look like markup ([m]ysqld)

    target = bosh_target.BoshTarget.connect(settings, logs_dir=out_dir / "bosh-logs", log=log)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            result = runner.run_target(definition, target, deploy=bosh_target.rolling_deploy, heal=target.heal,
                                       scale=scale, out=out_dir, clients=clients, display=RichHooks(progress),
                                       probe_lrps=round(probe_lrps * min(scale, 1)), log=log,
                                       resolve=target.service_resolver)
    except bosh_target.BoshTargetError as exc:
        raise TaskFailed(f"the run against deployment {settings.deployment} failed: {exc}") from None
    finally:
        target.close()
    _print_result(result)
    if result.verdict.status == "FAILED":
        raise Exit(code=1)


@task(name="list")
def list_(c: Context) -> None:
    """Every experiment definition: name, LRPs, faults, title."""
    table = Table(title="experiments")
    for col in ("name", "LRPs", "faults", "title"):
        table.add_column(col, overflow="fold")
    for name in spec.names():
        d = spec.load(name)
        faults = "; ".join(f"{f.action} {f.target or ','.join(f.groups) or 'all'} {f.when}" for f in d.faults)
        table.add_row(d.name, str(d.workload.get("desired_lrps", "")), faults, d.title)
    console.print(table)


@task(iterable=["run"], help={"run": "a run directory (repeat --run for each; default: every run in .experiments/)",
                              "markdown": "print the README's two Markdown tables (summary, per metric) instead"})
def compare(c: Context, run: list[str] | None = None, markdown: bool = False) -> None:
    """Side-by-side table of runs, with the seed's published figures as a column."""
    paths = [Path(r) for r in run] if run else sorted(p for p in runner.RUNS_DIR.glob("*") if compare_runs.is_run(p))
    if not paths:
        raise UsageError(f"no --run given and no run under {runner.RUNS_DIR}: run ./inv experiment.run NAME first")
    runs = [compare_runs.load_run(p) for p in paths]
    if markdown:
        print(compare_runs.markdown_summary(runs))
        print(compare_runs.markdown_metrics(runs), end="")
        return
    header, rows = compare_runs.rows(runs)
    table = Table(title="runs vs seed")
    for col in header:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
