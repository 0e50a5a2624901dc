"""cf-mysql-release v26's start arithmetic, as the lab's mysql stand-in applies it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cf_mysql_consul_tools.lab.mysql_ctl import CtlConfig, Timeouts


@pytest.mark.parametrize(("t", "ctrl", "monit", "tries"), [
    (600, 480, 540, 96),   # the manifest generation's default
    (150, 120, 135, 24),   # the default the Known-Issues page names
    (25, 20, 23, 4),       # Ruby rounds 22.5 up
    (10, 8, 9, 1),         # one try: mariadb_ctrl gives up 5 s after starting mysqld
])
def test_database_startup_timeout_gives_mariadb_ctrl_four_fifths_and_monit_nine_tenths(
        t: float, ctrl: int, monit: int, tries: int) -> None:
    got = Timeouts.of(t)
    assert (got.ctrl_seconds, got.monit_seconds, got.tries) == (ctrl, monit, tries)


def test_the_rendered_config_keeps_monit_and_mariadb_ctrl_defaults(tmp_path: Path) -> None:
    path = tmp_path / "ctl.json"
    path.write_text(json.dumps({"mariadbd_argv": ["mariadbd"], "socket": "/s", "database_startup_timeout": 60,
                                "events_path": "/e"}))
    config = CtlConfig.load(str(path))
    assert (config.poll_seconds, config.monit_cycle_seconds) == (5.0, 10.0)
    assert config.timeouts == Timeouts(ctrl_seconds=48, monit_seconds=54)


def test_a_timeout_that_lets_nothing_start_is_refused_before_anything_runs() -> None:
    from tests.invoke_tasks import run_task

    assert Timeouts.of(11).tries == 1 and Timeouts.of(12).tries == 2  # below 12 s the only try is at once
    code, out, err = run_task("bench.deploy", "--start-timeout", "10")
    assert code == 2 and "--start-timeout must be at least 12" in err and "Traceback" not in out + err
