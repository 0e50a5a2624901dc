"""``bosh.*`` tasks: deploy this release to a BOSH director (bosh-lite) and run its errand.

Every task has ``--dry-run``, which prints the exact bosh command lines; without the bosh CLI
the tasks print the same lines and say that nothing ran.
"""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cf_mysql_consul_tools.release.boshcli import REPO_ROOT, BoshCli, BoshCommand, BoshError

MANIFEST = REPO_ROOT / "manifests" / "cf-mysql-consul.yml"
OPS_DIR = REPO_ROOT / "manifests" / "operations"
VARS_STORE = REPO_ROOT / ".dev_builds" / "cf-mysql-consul-vars.yml"


def ops_path(name: str) -> Path:
    """An ops file given by name (``exp1-single-registered-proxy``) or by path."""
    direct = Path(name)
    if direct.is_file():
        return direct
    candidate = OPS_DIR / (name if name.endswith(".yml") else f"{name}.yml")
    if not candidate.is_file():
        known = ", ".join(sorted(p.stem for p in OPS_DIR.glob("*.yml")))
        raise Exit(f"no ops file {name!r}; known: {known}", code=2)
    return candidate


def _vars(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise Exit(f"--var takes KEY=VALUE, got {pair!r}", code=2)
        out[key] = value
    return out


def _run(cli: BoshCli, commands: list[BoshCommand], dry_run: bool) -> None:
    try:
        cli.run(commands, dry_run=dry_run)
    except BoshError as exc:
        raise Exit(str(exc), code=1) from None


@task(iterable=["ops", "var", "vars_file"], help={
    "environment": "bosh environment alias", "deployment": "deployment name",
    "ops": "ops file name under manifests/operations (repeatable)", "var": "KEY=VALUE (repeatable)",
    "vars_file": "YAML vars file (repeatable)", "manifest": "deployment manifest",
    "recreate": "recreate every VM", "dry_run": "print the bosh commands without running them"})
def deploy(c: Context, environment: str = "vbox", deployment: str = "cf-mysql-consul", ops: list[str] | None = None,
           var: list[str] | None = None, vars_file: list[str] | None = None, manifest: str | None = None,
           recreate: bool = False, dry_run: bool = False) -> None:
    """`bosh -e ENV -d DEP deploy manifests/cf-mysql-consul.yml -o OPS... --vars-store ...`."""
    cli = BoshCli(environment=environment, deployment=deployment)
    cmd = cli.deploy(Path(manifest) if manifest else MANIFEST, [ops_path(o) for o in ops or []],
                     vars=_vars(var or []), vars_files=[Path(v) for v in vars_file or []], vars_store=VARS_STORE,
                     recreate=recreate)
    _run(cli, [cmd], dry_run)


@task(help={"name": "errand (instance group) name", "environment": "bosh environment alias",
            "deployment": "deployment name", "keep_alive": "keep the errand VM afterwards",
            "logs_dir": "download the errand's logs here", "dry_run": "print the bosh commands without running them"})
def errand(c: Context, name: str = "benchmark-bbs", environment: str = "vbox", deployment: str = "cf-mysql-consul",
           keep_alive: bool = False, logs_dir: str | None = None, dry_run: bool = False) -> None:
    """`bosh -e ENV -d DEP run-errand NAME` (default: benchmark-bbs)."""
    cli = BoshCli(environment=environment, deployment=deployment)
    _run(cli, [cli.run_errand(name, keep_alive=keep_alive, download_logs=Path(logs_dir) if logs_dir else None)],
         dry_run)
