"""The ``test`` task: everything CI runs (ruff, mypy, the import contracts, pytest)."""

from __future__ import annotations

from invoke.context import Context

from cf_mysql_consul_tools.tasks.cli import task


@task(needs="test", help={"fast": "skip the slow integration tests (the lab)", "k": "pytest -k expression"})
def test(c: Context, fast: bool = False, k: str = "") -> None:
    """Run ruff, mypy (strict, on src/), the import contracts (lint-imports) and pytest, stopping at the
    first failing stage."""
    c.run("ruff check src tests tasks.py")
    c.run("mypy")
    c.run("lint-imports --no-cache")
    args = ["pytest"]
    if fast:
        args += ["-m", "'not integration'"]
    if k:
        args += ["-k", repr(k)]
    c.run(" ".join(args))
