"""Run the repository's invoke tasks in-process, through the program ``./inv`` runs (minus the bootstrap)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple

from cf_mysql_consul_tools.tasks.program import program

REPO = Path(__file__).resolve().parents[1]


class Result(NamedTuple):
    """A task's exit code and what it printed (unpacks as ``code, out, err``)."""

    returncode: int
    stdout: str
    stderr: str


def run_task(*args: str) -> Result:
    """``./inv ARGS...``: the exit code (0 unless the task exited otherwise) and its output."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            program().run(["./inv", *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def would_run(out: str) -> list[str]:
    """The command lines a ``--dry-run`` printed."""
    return [ln.removeprefix("would run: ") for ln in out.splitlines() if ln.startswith("would run: ")]
