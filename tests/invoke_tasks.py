"""Run the repository's invoke tasks in-process (as ``./inv`` would, minus the bootstrap)."""

from __future__ import annotations

import importlib.util
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple

from invoke.collection import Collection
from invoke.program import Program

REPO = Path(__file__).resolve().parents[1]


def _namespace() -> Collection:
    spec = importlib.util.spec_from_file_location("repo_tasks", REPO / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    namespace: Collection = module.ns
    return namespace


NAMESPACE = _namespace()


class Result(NamedTuple):
    """A task's exit code and what it printed (unpacks as ``code, out, err``)."""

    returncode: int
    stdout: str
    stderr: str


def run_task(*args: str) -> Result:
    """``inv ARGS...``: the exit code (0 unless the task exited otherwise) and its output."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            Program(namespace=NAMESPACE).run(["inv", *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def would_run(out: str) -> list[str]:
    """The command lines a ``--dry-run`` printed."""
    return [ln.removeprefix("would run: ") for ln in out.splitlines() if ln.startswith("would run: ")]
