"""``bosh.*`` tasks: deploy this release to a BOSH director (bosh-lite) and run its errand.

Every task has ``--dry-run``, which prints the exact bosh command lines; without the bosh CLI
the tasks print the same lines and say that nothing ran. ``bosh.deploy`` lets bosh show its
diff and ask before it deploys, unless ``--non-interactive`` (``-n``, bosh's own flag).
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke.context import Context

from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.bosh.variables import parse_var_flags
from cf_mysql_consul_tools.release.boshcli import BoshCli
from cf_mysql_consul_tools.tasks.cli import UsageError, task

MANIFEST = REPO_ROOT / "manifests" / "cf-mysql-consul.yml"
OPS_DIR = REPO_ROOT / "manifests" / "operations"
VARS_STORE = REPO_ROOT / ".dev_builds" / "cf-mysql-consul-vars.yml"
DRY_RUN_HELP = "print the bosh commands without running them"


def ops_path(name: str) -> Path:
    """An ops file given by name (``exp1-single-registered-proxy``) or by path."""
    direct = Path(name)
    if direct.is_file():
        return direct
    candidate = OPS_DIR / (name if name.endswith(".yml") else f"{name}.yml")
    if not candidate.is_file():
        known = ", ".join(sorted(p.stem for p in OPS_DIR.glob("*.yml")))
        raise UsageError(f"--ops: no ops file {name!r} (neither a file nor a name under manifests/operations); "
                         f"known: {known}")
    return candidate


@task(iterable=["ops", "var", "vars_file"], help={
    "environment": "bosh environment alias", "deployment": "deployment name",
    "ops": "ops file name under manifests/operations, or a path (repeatable)", "var": "NAME=VALUE (repeatable)",
    "vars_file": "YAML vars file (repeatable)", "manifest": "deployment manifest",
    "recreate": "recreate every VM", "dry_run": DRY_RUN_HELP,
    "non_interactive": "deploy without showing bosh's diff and asking first (bosh -n)"})
def deploy(c: Context, environment: str = "vbox", deployment: str = "cf-mysql-consul", ops: list[str] | None = None,
           var: list[str] | None = None, vars_file: list[str] | None = None, manifest: str | None = None,
           recreate: bool = False, dry_run: bool = False, non_interactive: bool = False) -> None:
    """`bosh -e ENV -d DEP deploy manifests/cf-mysql-consul.yml -o OPS... --vars-store ...`: shows the diff, asks."""
    if not (non_interactive or dry_run or sys.stdin.isatty()):
        raise UsageError("--non-interactive is needed when stdin is not a terminal: bosh shows its diff and asks "
                         "before it deploys, and nobody could answer")
    cli = BoshCli(environment=environment, deployment=deployment, non_interactive=non_interactive)
    cmd = cli.deploy(Path(manifest) if manifest else MANIFEST, [ops_path(o) for o in ops or []],
                     vars=parse_var_flags(var or []), vars_files=[Path(v) for v in vars_file or []],
                     vars_store=VARS_STORE, recreate=recreate)
    cli.run([cmd], dry_run=dry_run)


@task(help={"name": "errand (instance group) name", "environment": "bosh environment alias",
            "deployment": "deployment name", "keep_alive": "keep the errand VM afterwards",
            "logs_dir": "download the errand's logs here", "dry_run": DRY_RUN_HELP})
def errand(c: Context, name: str = "benchmark-bbs", environment: str = "vbox", deployment: str = "cf-mysql-consul",
           keep_alive: bool = False, logs_dir: str | None = None, dry_run: bool = False) -> None:
    """`bosh -e ENV -d DEP run-errand NAME` (default: benchmark-bbs)."""
    cli = BoshCli(environment=environment, deployment=deployment)
    cli.run([cli.run_errand(name, keep_alive=keep_alive, download_logs=Path(logs_dir) if logs_dir else None)],
            dry_run=dry_run)
