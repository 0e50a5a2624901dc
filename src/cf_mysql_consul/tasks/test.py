"""The ``test`` task: everything CI runs (ruff, mypy, pytest)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task


@task(help={"fast": "skip the slow integration tests (the lab)", "k": "pytest -k expression"})
def test(c: Context, fast: bool = False, k: str = "") -> None:
    """Run ruff, mypy (strict, on src/) and pytest, stopping at the first failing stage."""
    c.run("ruff check src tests tasks.py")
    c.run("mypy")
    args = ["pytest"]
    if fast:
        args += ["-m", "'not integration'"]
    if k:
        args += ["-k", repr(k)]
    c.run(" ".join(args))
