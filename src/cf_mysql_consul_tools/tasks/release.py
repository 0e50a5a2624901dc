"""``release.*`` tasks: blobs, lint, docs, local package compilation, create and upload the release.

``create`` and ``upload`` need the bosh CLI; without it (or with ``--dry-run``) they print the
exact commands they would run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invoke.context import Context

from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.bosh.variables import VarsStore, given_values
from cf_mysql_consul_tools.release.blobs import fetch_all
from cf_mysql_consul_tools.release.boshcli import BoshCli
from cf_mysql_consul_tools.release.compile import compile_package
from cf_mysql_consul_tools.release.findings import LintReport
from cf_mysql_consul_tools.release.lint import lint_release
from cf_mysql_consul_tools.release.lint_manifests import lint_deployment
from cf_mysql_consul_tools.release.propdocs import write_properties_doc
from cf_mysql_consul_tools.tasks.bosh import DRY_RUN_HELP, MANIFEST, ops_path
from cf_mysql_consul_tools.tasks.cli import TaskFailed, task

DEFAULT_TARBALL = REPO_ROOT / "dev_releases" / "cf-mysql-consul-dev.tgz"


@task(iterable=["ops", "var", "vars_file"], help={
    "render": "also render every job for every manifest + ops file combination (default on)",
    "manifest": "lint this deployment manifest (yours) instead of the release's own manifests",
    "ops": "ops file applied to --manifest: a path, or a name under manifests/operations (repeatable)",
    "var": "NAME=VALUE for a ((variable)) of --manifest, the value read as YAML (repeatable)",
    "vars_file": "YAML file of variable values for --manifest (repeatable)",
    "vars_store": "vars store holding the values of --manifest's variables (read, never written)"})
def lint(c: Context, render: bool = True, manifest: str | None = None, ops: list[str] | None = None,
         var: list[str] | None = None, vars_file: list[str] | None = None, vars_store: str | None = None) -> None:
    """Check the release as `bosh create-release` would, and every job of every manifest as a deploy would.

    With --manifest (or any of -o, -v, -l, --vars-store: the manifest is then the release's own
    manifests/cf-mysql-consul.yml), lint that one deployment instead, as `bosh int` interpolates it.
    """
    if manifest or ops or var or vars_file or vars_store:
        _lint_deployment(Path(manifest) if manifest else MANIFEST, [ops_path(o) for o in ops or []],
                         given_values(var or [], [Path(v) for v in vars_file or []]),
                         VarsStore.load(Path(vars_store), must_exist=True) if vars_store else None)
        return
    report = lint_release(REPO_ROOT, render=render)
    _print(report)
    print(report.summary())
    if report.errors:
        raise TaskFailed(f"release lint failed: {len(report.errors)} error(s) above")


def _lint_deployment(manifest: Path, ops: list[Path], given: dict[str, Any], store: VarsStore | None) -> None:
    report = lint_deployment(REPO_ROOT, manifest, ops, given=given, store=store)
    _print(report)
    print(f"{report.combinations[0]}: {report.renders} job renders: {len(report.errors)} errors, "
          f"{len(report.notes)} notes")
    if report.errors:
        raise TaskFailed(f"deployment lint failed: {len(report.errors)} error(s) above")


def _print(report: LintReport) -> None:
    for finding in report.notes + report.errors:
        print(finding)


@task()
def blobs(c: Context) -> None:
    """Download the wheels and CPython's source into blobs/ and rewrite config/blobs.yml."""
    entries = fetch_all(log=print)
    total = sum(e.size for e in entries.values())
    print(f"config/blobs.yml: {len(entries)} blobs, {total / 1e6:.1f} MB (blobs/ is not committed)")


@task()
def docs(c: Context) -> None:
    """Regenerate docs/properties.md from the job specs."""
    print(f"wrote {write_properties_doc()}")


@task(name="compile", help={"package": "package name (default: every package, dependencies first)",
            "dest": "directory that plays /var/vcap/packages (default .dev_builds/compiled/packages)"})
def compile_packages(c: Context, package: str | None = None, dest: str | None = None) -> None:
    """Run packaging scripts locally, as a BOSH compilation VM would (needs ./inv release.blobs)."""
    packages_dir = Path(dest) if dest else REPO_ROOT / ".dev_builds" / "compiled" / "packages"
    packages_dir.mkdir(parents=True, exist_ok=True)
    for name in [package] if package else ["python-3.11", "cf-mysql-consul"]:
        print(f"compiling {name} into {packages_dir / name} ...", flush=True)
        print(f"compiled {name} in {compile_package(name, packages_dir):.0f}s")


@task(help={"tarball": "where to write the release tarball", "version": "release version (default: bosh's dev version)",
            "dry_run": DRY_RUN_HELP, "skip_lint": "do not run release.lint first"})
def create(c: Context, tarball: str | None = None, version: str | None = None, dry_run: bool = False,
           skip_lint: bool = False) -> None:
    """Lint, then `bosh create-release --force --tarball=X` (a dev release)."""
    if not skip_lint and not dry_run:
        lint(c)
    cli = BoshCli()
    cli.run([cli.create_release(Path(tarball) if tarball else DEFAULT_TARBALL, version=version)], dry_run=dry_run)


@task(help={"environment": "bosh environment alias (bosh alias-env)", "tarball": "release tarball",
            "dry_run": DRY_RUN_HELP, "fix": "replace a corrupt release"})
def upload(c: Context, environment: str = "vbox", tarball: str | None = None, dry_run: bool = False,
           fix: bool = False) -> None:
    """`bosh -e ENV upload-release TARBALL`."""
    cli = BoshCli(environment=environment)
    cli.run([cli.upload_release(Path(tarball) if tarball else DEFAULT_TARBALL, fix=fix)], dry_run=dry_run)
