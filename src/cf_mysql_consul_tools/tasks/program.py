"""``./inv``: invoke's program over this project's task namespace, with usage errors exiting 2.

invoke reports a command line it cannot parse (an unknown task or flag, a missing argument, a
value that does not convert) and exits 1; here such a line exits 2 like every other bad input
(see :mod:`cf_mysql_consul_tools.tasks.cli`), with a pointer to the task's help.
"""

from __future__ import annotations

import sys

from invoke.collection import Collection
from invoke.exceptions import Exit, ParseError
from invoke.parser.argument import Argument
from invoke.program import Program

from cf_mysql_consul_tools.tasks import bench, bosh, chaos, experiment, lab, release, test


def build_namespace() -> Collection:
    """Every task, one namespace per area (``lab.up``, ``release.lint``...) and ``test`` at the top."""
    ns = Collection()
    for module, name in ((lab, "lab"), (bench, "bench"), (experiment, "experiment"), (chaos, "chaos"),
                         (release, "release"), (bosh, "bosh")):
        ns.add_collection(Collection.from_module(module, name=name))
    ns.add_task(test.test, name="test")
    ns.configure({"run": {"echo": True, "pty": False}})
    return ns


class TaskProgram(Program):
    """invoke's ``Program`` whose parse errors exit 2 with the task's help named, and whose own flags
    are long only (``-h`` aside): invoke would otherwise read a short flag that a task does not have
    as one of its own (``release.upload -d`` as ``--debug``, running the upload)."""

    def core_args(self) -> list[Argument]:
        """invoke's core flags with their short names dropped, but ``-h`` for ``--help``."""
        return [Argument(names=tuple(n for n in arg.names if len(n) > 1 or n == "h"), kind=arg.kind,
                         default=arg.default, help=arg.help, positional=arg.positional, optional=arg.optional,
                         incrementable=arg.incrementable, attr_name=arg.attr_name)
                for arg in super().core_args()]

    def parse_core(self, argv: list[str] | None) -> None:
        """Core flags (``--list``, ``--help``...); a bad one is a usage error."""
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise Exit(f"error: {exc}; see ./inv --help", code=2) from None

    def parse_tasks(self) -> None:
        """Task names, their options and values; a bad one is a usage error."""
        try:
            super().parse_tasks()
        except ParseError as exc:
            named = [arg for arg in self.core.unparsed if arg in self.collection.task_names]
            where = f"./inv --help {named[-1]}" if named else "./inv --list"
            raise Exit(f"error: {exc}; see {where}", code=2) from None


def program() -> TaskProgram:
    """The program ``./inv`` runs."""
    return TaskProgram(namespace=build_namespace(), name="cf-mysql-consul", binary="./inv", version="0.1.0")


def main(argv: list[str] | None = None) -> None:
    """Run ``./inv ARGS`` (``argv`` without the program name; None: ``sys.argv``)."""
    program().run(["./inv", *(sys.argv[1:] if argv is None else argv)])
