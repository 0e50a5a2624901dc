"""A small wrapper around the ``bosh`` CLI, shared by the ``release.*``, ``bosh.*`` and experiment tasks.

Every operation is first built as a :class:`BoshCommand` (argv, working directory, and the
environment variables it relies on), so the exact command line can be printed (``--dry-run``)
or run. Without the CLI on ``PATH`` nothing is run: :meth:`BoshCli.run` raises
:class:`BoshNotInstalled`, whose message says so and lists the commands it would have run.

Nothing here talks to a director by itself: only ``bosh`` does, when it is installed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cf_mysql_consul_tools.bosh.releases import REPO_ROOT

DEFAULT_DEPLOYMENT = "cf-mysql-consul"
DEFAULT_ENVIRONMENT = "vbox"  # the alias bosh-lite's docs give the director (`bosh alias-env vbox`)


class BoshError(RuntimeError):
    """A bosh command could not be run or failed; the message has the command line."""


class BoshNotInstalled(BoshError):
    """The ``bosh`` CLI is not on PATH; the message lists the commands that were not run."""


@dataclass(frozen=True, slots=True)
class BoshCommand:
    """One bosh CLI invocation: ``argv`` (starting with ``bosh``) run in ``cwd``."""

    argv: tuple[str, ...]
    cwd: Path = REPO_ROOT
    description: str = ""

    def line(self) -> str:
        """The shell-quoted command line, prefixed with ``cd`` when not run from the repository root."""
        text = shlex.join(self.argv)
        if Path(self.cwd).resolve() != REPO_ROOT:
            text = f"cd {shlex.quote(str(self.cwd))} && {text}"
        return text


@dataclass(frozen=True, slots=True)
class BoshCli:
    """Builds and runs bosh commands for one environment alias and deployment.

    ``environment`` is passed as ``-e`` (a ``bosh alias-env`` name or a director URL); the
    client credentials come from the usual ``BOSH_CLIENT``/``BOSH_CLIENT_SECRET``/``BOSH_CA_CERT``
    environment, which this wrapper never reads or prints. ``executable`` overrides the CLI
    looked up on PATH (tests point it at a recorder script).
    """

    environment: str = DEFAULT_ENVIRONMENT
    deployment: str = DEFAULT_DEPLOYMENT
    release_dir: Path = REPO_ROOT
    executable: str | None = None
    non_interactive: bool = True
    echo: Callable[[str], None] = field(default=print)

    # -- building commands -------------------------------------------------------------------

    def _global(self, *, deployment: bool) -> list[str]:
        argv = ["bosh", "-e", self.environment]
        if deployment:
            argv += ["-d", self.deployment]
        if self.non_interactive:
            argv.append("-n")
        return argv

    def _release_cmd(self, *args: str, description: str) -> BoshCommand:
        argv = ["bosh", *(["-n"] if self.non_interactive else []), *args]
        return BoshCommand(tuple(argv), cwd=self.release_dir, description=description)

    def add_blob(self, path: Path, blob_path: str) -> BoshCommand:
        """``bosh add-blob PATH BLOB_PATH`` (run in the release directory)."""
        return self._release_cmd("add-blob", str(path), blob_path, description=f"add blob {blob_path}")

    def create_release(self, tarball: Path, *, version: str | None = None, final: bool = False) -> BoshCommand:
        """``bosh create-release --force --tarball X`` (dev release unless ``final``)."""
        args = ["create-release", "--force", f"--tarball={tarball}"]
        if version:
            args.append(f"--version={version}")
        if final:
            args.append("--final")
        return self._release_cmd(*args, description="build the release tarball")

    def upload_release(self, tarball: Path, *, fix: bool = False) -> BoshCommand:
        """``bosh -e ENV upload-release TARBALL``."""
        argv = [*self._global(deployment=False), "upload-release", str(tarball)]
        if fix:
            argv.append("--fix")
        return BoshCommand(tuple(argv), cwd=self.release_dir, description="upload the release to the director")

    def interpolate(self, manifest: Path, ops_files: Sequence[Path] = (),
                    vars: Mapping[str, str] | None = None, vars_files: Sequence[Path] = ()) -> BoshCommand:
        """``bosh int MANIFEST -o OPS... -v K=V... -l FILE...`` (no director needed)."""
        argv = ["bosh", "int", str(manifest), *self._vars_args(ops_files, vars, vars_files)]
        return BoshCommand(tuple(argv), cwd=self.release_dir, description="interpolate the manifest")

    def deploy(self, manifest: Path, ops_files: Sequence[Path] = (), vars: Mapping[str, str] | None = None,
               vars_files: Sequence[Path] = (), vars_store: Path | None = None, *,
               recreate: bool = False) -> BoshCommand:
        """``bosh -e ENV -d DEP -n deploy MANIFEST -o ... -v ... [--vars-store F]``."""
        argv = [*self._global(deployment=True), "deploy", str(manifest),
                *self._vars_args(ops_files, vars, vars_files)]
        if vars_store is not None:
            argv.append(f"--vars-store={vars_store}")
        if recreate:
            argv.append("--recreate")
        return BoshCommand(tuple(argv), cwd=self.release_dir, description=f"deploy {self.deployment}")

    def run_errand(self, errand: str, *, instance: str | None = None, keep_alive: bool = False,
                   download_logs: Path | None = None) -> BoshCommand:
        """``bosh -e ENV -d DEP run-errand NAME [--instance G/I] [--keep-alive] [--download-logs]``."""
        argv = [*self._global(deployment=True), "run-errand", errand]
        if instance:
            argv.append(f"--instance={instance}")
        if keep_alive:
            argv.append("--keep-alive")
        if download_logs is not None:
            argv += ["--download-logs", f"--logs-dir={download_logs}"]
        return BoshCommand(tuple(argv), cwd=self.release_dir, description=f"run errand {errand}")

    def stop(self, instance: str, *, hard: bool = False, skip_drain: bool = False) -> BoshCommand:
        """``bosh stop GROUP/INDEX`` (a fault for the experiments: drain, then monit stop)."""
        argv = [*self._global(deployment=True), "stop", instance]
        argv += ["--hard"] if hard else []
        argv += ["--skip-drain"] if skip_drain else []
        return BoshCommand(tuple(argv), cwd=self.release_dir, description=f"stop {instance}")

    def start(self, instance: str) -> BoshCommand:
        """``bosh start GROUP/INDEX``."""
        argv = [*self._global(deployment=True), "start", instance]
        return BoshCommand(tuple(argv), cwd=self.release_dir, description=f"start {instance}")

    def ssh(self, instance: str, command: str) -> BoshCommand:
        """``bosh ssh GROUP/INDEX -c CMD`` (faults such as ``sudo pkill -9 -f ...`` run through this)."""
        argv = [*self._global(deployment=True), "ssh", instance, "-c", command]
        return BoshCommand(tuple(argv), cwd=self.release_dir, description=f"ssh {instance}")

    def instances(self) -> BoshCommand:
        """``bosh instances --ps --json``: the deployment's instances and their processes."""
        argv = [*self._global(deployment=True), "instances", "--ps", "--json"]
        return BoshCommand(tuple(argv), cwd=self.release_dir, description="list instances")

    @staticmethod
    def _vars_args(ops_files: Sequence[Path], vars: Mapping[str, str] | None,
                   vars_files: Sequence[Path]) -> list[str]:
        args: list[str] = []
        for ops in ops_files:
            args += ["-o", str(ops)]
        for key, value in (vars or {}).items():
            args += ["-v", f"{key}={value}"]
        for vf in vars_files:
            args += ["-l", str(vf)]
        return args

    # -- running -----------------------------------------------------------------------------

    def cli_path(self) -> str | None:
        """The bosh executable that would run, or None when it is not installed."""
        if self.executable:
            return self.executable
        return shutil.which("bosh")

    def run(self, commands: Sequence[BoshCommand], *, dry_run: bool = False,
            capture: bool = False) -> list[str]:
        """Print each command line, then run them in order (stopping at the first failure).

        ``dry_run`` prints ``would run: LINE`` for each and runs nothing. Without the CLI,
        prints the same lines and raises BoshNotInstalled. Returns each command's stdout when
        ``capture``, else empty strings. Raises BoshError (with the command line and exit code)
        when a command fails.
        """
        cli = self.cli_path()
        if dry_run or cli is None:
            if cli is None and not dry_run:
                self.echo("bosh CLI not found on PATH: nothing was run. These are the commands to run:")
            for cmd in commands:
                self.echo(f"would run: {cmd.line()}")
            if cli is None and not dry_run:
                raise BoshNotInstalled(
                    "the bosh CLI is not installed (https://bosh.io/docs/cli-v2-install/); "
                    "run the commands above on a machine that has it, or pass --dry-run to only print them"
                )
            return ["" for _ in commands]
        outputs: list[str] = []
        for cmd in commands:
            self.echo(f"running: {cmd.line()}")
            argv = [cli, *cmd.argv[1:]]
            try:
                proc = subprocess.run(argv, cwd=cmd.cwd, check=False, text=True,
                                      stdout=subprocess.PIPE if capture else None, env=dict(os.environ))
            except OSError as exc:
                raise BoshError(f"cannot run {cmd.line()}: {exc}") from exc
            if proc.returncode != 0:
                raise BoshError(f"{cmd.line()} failed with exit code {proc.returncode}")
            outputs.append(proc.stdout or "")
        return outputs
