"""Every bosh task prints the exact bosh command lines with ``--dry-run``, says so clearly when
the bosh CLI is missing, and runs exactly those argv when it is there.

The tasks run in-process through invoke's ``Program`` with the repository's ``tasks.py``
namespace (as ``./inv`` runs them), with PATH set for each test. The bosh CLI cannot be
installed here, so ``test_with_a_cli_the_same_argv_run`` puts a tiny recorder script named
``bosh`` on PATH: a stand-in for a part this machine cannot have.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.invoke_tasks import REPO, run_task
from tests.invoke_tasks import would_run as lines


@pytest.fixture(autouse=True)
def no_bosh_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")


TARBALL = f"{REPO}/dev_releases/cf-mysql-consul-dev.tgz"
MANIFEST = f"{REPO}/manifests/cf-mysql-consul.yml"
VARS_STORE = f"--vars-store={REPO}/.dev_builds/cf-mysql-consul-vars.yml"
CASES = {
    "release.create": (["release.create", "--dry-run"], [f"bosh -n create-release --force --tarball={TARBALL}"]),
    "release.upload": (["release.upload", "--dry-run", "-e", "lite"], [f"bosh -e lite -n upload-release {TARBALL}"]),
    "bosh.deploy (bosh shows its diff and asks)": (
        ["bosh.deploy", "--dry-run"], [f"bosh -e vbox -d cf-mysql-consul deploy {MANIFEST} {VARS_STORE}"]),
    "bosh.deploy --non-interactive": (
        ["bosh.deploy", "--dry-run", "--non-interactive"],
        [f"bosh -e vbox -d cf-mysql-consul -n deploy {MANIFEST} {VARS_STORE}"]),
    "bosh.deploy with ops and vars": (
        ["bosh.deploy", "--dry-run", "-n", "-o", "exp1-single-registered-proxy", "-o", "no-galera-drain",
         "--var", "proxy_api_password=x y", "-l", "/tmp/vars.yml", "-d", "exp1", "-e", "lite"],
        [f"bosh -e lite -d exp1 -n deploy {MANIFEST} -o {REPO}/manifests/operations/exp1-single-registered-proxy.yml "
         f"-o {REPO}/manifests/operations/no-galera-drain.yml -v 'proxy_api_password=x y' -l /tmp/vars.yml "
         f"{VARS_STORE}"]),
    "bosh.errand": (["bosh.errand", "--dry-run"], ["bosh -e vbox -d cf-mysql-consul -n run-errand benchmark-bbs"]),
    "bosh.errand with logs": (["bosh.errand", "--dry-run", "--keep-alive", "--logs-dir", "/tmp/logs"],
                              ["bosh -e vbox -d cf-mysql-consul -n run-errand benchmark-bbs --keep-alive "
                               "--download-logs --logs-dir=/tmp/logs"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_dry_run_prints_the_exact_command_lines(case: str) -> None:
    args, expected = CASES[case]
    proc = run_task(*args)
    assert proc.returncode == 0, proc.stderr
    assert lines(proc.stdout) == expected


def test_without_the_cli_the_task_says_so_shows_the_commands_and_fails() -> None:
    proc = run_task("bosh.deploy", "--non-interactive")
    assert proc.returncode == 1
    assert "bosh CLI not found on PATH: nothing was run" in proc.stdout
    assert lines(proc.stdout) == CASES["bosh.deploy --non-interactive"][1]
    assert "not installed" in proc.stderr and "Traceback" not in proc.stderr


def test_an_interactive_deploy_needs_a_terminal_to_ask() -> None:
    """pytest's stdin is no terminal: bosh would read its confirmation from nowhere."""
    proc = run_task("bosh.deploy")
    assert proc.returncode == 2
    assert "--non-interactive is needed when stdin is not a terminal" in proc.stderr


def test_unknown_ops_file_is_refused_with_the_known_names() -> None:
    proc = run_task("bosh.deploy", "--dry-run", "-o", "no-such-ops")
    assert proc.returncode == 2 and "exp1-single-registered-proxy" in proc.stderr


def test_with_a_cli_the_same_argv_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorder named ``bosh`` on PATH: the task runs it with the argv the dry run printed."""
    record = tmp_path / "argv"
    fake = tmp_path / "bin" / "bosh"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {record}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    proc = run_task("bosh.errand", "-e", "lite")
    assert proc.returncode == 0, proc.stderr
    assert "running: bosh -e lite -d cf-mysql-consul -n run-errand benchmark-bbs" in proc.stdout
    assert record.read_text().splitlines() == ["-e", "lite", "-d", "cf-mysql-consul", "-n", "run-errand",
                                               "benchmark-bbs"]
