"""``release.*`` tasks: blobs, lint, docs, local package compilation, create and upload the release.

``create`` and ``upload`` need the bosh CLI; without it (or with ``--dry-run``) they print the
exact commands they would run.
"""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cf_mysql_consul_tools.release.blobs import fetch_all
from cf_mysql_consul_tools.release.boshcli import REPO_ROOT, BoshCli, BoshCommand, BoshError
from cf_mysql_consul_tools.release.compile import compile_package
from cf_mysql_consul_tools.release.lint import lint_release
from cf_mysql_consul_tools.release.propdocs import write_properties_doc

DEFAULT_TARBALL = REPO_ROOT / "dev_releases" / "cf-mysql-consul-dev.tgz"


def _cli(environment: str) -> BoshCli:
    return BoshCli(environment=environment)


def _run(cli: BoshCli, commands: list[BoshCommand], dry_run: bool) -> None:
    try:
        cli.run(commands, dry_run=dry_run)
    except BoshError as exc:
        raise Exit(str(exc), code=1) from None


@task(help={"render": "also render every job for every manifest + ops file combination (default on)"})
def lint(c: Context, render: bool = True) -> None:
    """Check the release as `bosh create-release` would, and render every job for every manifest."""
    report = lint_release(REPO_ROOT, render=render)
    for finding in report.notes + report.errors:
        print(finding)
    print(report.summary())
    if report.errors:
        raise Exit("release lint failed", code=1)


@task
def blobs(c: Context) -> None:
    """Download the wheels and CPython's source into blobs/ and rewrite config/blobs.yml."""
    entries = fetch_all(log=print)
    total = sum(e.size for e in entries.values())
    print(f"config/blobs.yml: {len(entries)} blobs, {total / 1e6:.1f} MB (blobs/ is not committed)")


@task
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
            "dry_run": "print the bosh commands without running them", "skip_lint": "do not run release.lint first"})
def create(c: Context, tarball: str | None = None, version: str | None = None, dry_run: bool = False,
           skip_lint: bool = False) -> None:
    """Lint, then `bosh create-release --force --tarball=X` (a dev release)."""
    if not skip_lint and not dry_run:
        lint(c)
    cli = _cli("vbox")
    path = Path(tarball) if tarball else DEFAULT_TARBALL
    _run(cli, [cli.create_release(path, version=version)], dry_run)


@task(help={"environment": "bosh environment alias (bosh alias-env)", "tarball": "release tarball",
            "dry_run": "print the bosh commands without running them", "fix": "replace a corrupt release"})
def upload(c: Context, environment: str = "vbox", tarball: str | None = None, dry_run: bool = False,
           fix: bool = False) -> None:
    """`bosh -e ENV upload-release TARBALL`."""
    cli = _cli(environment)
    _run(cli, [cli.upload_release(Path(tarball) if tarball else DEFAULT_TARBALL, fix=fix)], dry_run)
