"""The ``test`` task: everything CI runs (ruff, mypy, the import contracts, pytest)."""

from __future__ import annotations

from invoke.context import Context

from cf_mysql_consul_tools.tasks.cli import task


@task(needs="test", help={"fast": "skip the slow integration tests (the lab)", "k": "pytest -k expression",
                          "shuffle": "run the tests in a random order (pytest-randomly; it prints the seed)",
                          "seed": "run the tests in the random order of this seed (implies --shuffle)"})
def test(c: Context, fast: bool = False, k: str = "", shuffle: bool = False, seed: int = 0) -> None:
    """Run ruff, mypy (strict, on src/), the import contracts (lint-imports) and pytest, stopping at the
    first failing stage. The tests run in file order unless ``--shuffle`` or ``--seed``."""
    c.run("ruff check src tests tasks.py")
    c.run("mypy")
    c.run("lint-imports --no-cache")
    args = ["pytest"]
    if seed:
        args += [f"--randomly-seed={seed}"]
    elif not shuffle:
        args += ["-p no:randomly"]
    if fast:
        args += ["-m", "'not integration'"]
    if k:
        args += ["-k", repr(k)]
    c.run(" ".join(args))
