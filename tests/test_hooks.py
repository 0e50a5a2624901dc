"""What every lifecycle hook shares (cf_mysql_consul.hooks): the command line, a config that does
not load, the drain protocol's integer, and telling a live process from a dead or zombie one."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from cf_mysql_consul.hooks import pid_alive, pid_file_alive, run_hook
from cf_mysql_consul.proxy.config import load_config
from cf_mysql_consul_tools.lab.waiting import wait_until


def test_the_body_gets_the_config_its_options_and_boshs_arguments(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def body(config: str, args: argparse.Namespace, bosh_args: list[str]) -> int:
        seen.update(config=config, timeout=args.timeout, bosh=bosh_args)
        return 7

    code = run_hook("test hook", ["--config", "c.yml", "job_shutdown", "hash_unchanged", "--timeout", "3"],
                    lambda path: f"loaded {path}", body, options=[("--timeout", {"type": float, "default": 60.0})])
    assert code == 7 and seen == {"config": "loaded c.yml", "timeout": 3.0, "bosh": ["job_shutdown", "hash_unchanged"]}


@pytest.mark.parametrize(("drain", "exit_code", "stdout"), [(True, 0, "0\n"), (False, 1, "")])
def test_a_config_that_does_not_load_is_said_and_a_drain_still_prints_its_integer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], drain: bool, exit_code: int, stdout: str) -> None:
    path = tmp_path / "proxy.yml"
    path.write_text("{}")
    code = run_hook("proxy drain", ["--config", str(path)], load_config, lambda *_: 99, drain=drain,
                    bad_config_exit=exit_code)
    out, err = capsys.readouterr()
    assert code == exit_code and out == stdout
    assert err.startswith("proxy drain: invalid config" + (", not draining" if drain else "")) and "api_username" in err


def test_pid_alive_tells_running_from_zombie_and_gone(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        pid_file = tmp_path / "x.pid"
        pid_file.write_text(f"{child.pid}\n")
        assert pid_file_alive(str(pid_file))
        child.kill()
        # Not reaped yet: a zombie, which a signal 0 alone would count as alive.
        wait_until(lambda: Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z",
                   timeout=10, what="the killed child to be a zombie")
        assert not pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)
    assert not pid_file_alive(str(tmp_path / "missing.pid"))
