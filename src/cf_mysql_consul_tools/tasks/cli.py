"""How every ``./inv`` task takes its options and reports a failure: one place for all of them.

- **Short flags** mean the same on every task: bosh's own letters (``-e`` environment, ``-d``
  deployment, ``-n`` non-interactive, ``-o`` ops file, ``-v`` var, ``-l`` vars file) and ``-m``
  manifest (:data:`SHORT_FLAGS`). Every other option, ``--dry-run`` included, is long only.
- **Values** are checked before the task runs. invoke converts a number option while it parses
  the command line; a value that does not convert is a usage error naming the option (exit 2).
  ``accepts`` declares what else an option accepts (:func:`choice`, :func:`number`).
- **Failures**: a task raises; :data:`EXIT_CODES` turns the errors it knows into their message and
  an exit code, never a traceback: 2 for input that cannot work (a bad option value, manifest,
  definition, lab request), 1 for a task that ran and failed. Anything else is a bug and keeps
  its traceback.
- **Needs**: ``needs="lab"`` installs the lab's Debian packages and Consul before the task runs
  (``scripts/bootstrap.sh lab``), ``needs="test"`` those and the browser the tests drive. ``./inv``
  itself installs only the virtualenv and Ruby, which is all the release and bosh tasks use.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from invoke.exceptions import Exit, ParseError
from invoke.parser.argument import Argument
from invoke.tasks import Task

from cf_mysql_consul_tools.access import AccessError
from cf_mysql_consul_tools.bosh.jobspec import RenderError
from cf_mysql_consul_tools.bosh.links import LinkError
from cf_mysql_consul_tools.bosh.manifest import ManifestError
from cf_mysql_consul_tools.bosh.ops import OpsError
from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.bosh.variables import VariablesError
from cf_mysql_consul_tools.experiments.bosh_target import BoshTargetError
from cf_mysql_consul_tools.experiments.compare import RunError
from cf_mysql_consul_tools.experiments.spec import SpecError
from cf_mysql_consul_tools.experiments.topology import TopologyError
from cf_mysql_consul_tools.lab.lab import LabError
from cf_mysql_consul_tools.lab.waiting import WaitTimeout
from cf_mysql_consul_tools.release.blobs import BlobError
from cf_mysql_consul_tools.release.boshcli import BoshError
from cf_mysql_consul_tools.release.packages import PackageError

SHORT_FLAGS: dict[str, str] = {
    "environment": "e", "deployment": "d", "non-interactive": "n", "ops": "o", "var": "v", "vars-file": "l",
    "manifest": "m",
}
BOOTSTRAP = REPO_ROOT / "scripts" / "bootstrap.sh"


class UsageError(ValueError):
    """An option value the task cannot use; the message names the option and what it accepts."""


class TaskFailed(RuntimeError):
    """The task ran and did not succeed; the message says what failed and where to look."""


EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (UsageError, 2), (ManifestError, 2), (SpecError, 2), (OpsError, 2), (VariablesError, 2), (LinkError, 2),
    (AccessError, 2), (TopologyError, 2), (BoshTargetError, 2), (LabError, 2), (RunError, 2),
    (TaskFailed, 1), (BoshError, 1), (WaitTimeout, 1), (RenderError, 1), (BlobError, 1), (PackageError, 1),
)


def exit_for(exc: Exception) -> Exit | None:
    """The ``Exit`` (message, code) for an error a task may raise; None for anything else."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return Exit(f"error: {exc}", code=code)
    return None


Check = Callable[[str, Any], Any]


def choice(*allowed: str) -> Check:
    """An option that takes one of ``allowed``."""

    def check(flag: str, value: Any) -> Any:
        if value not in allowed:
            options = f"{', '.join(allowed[:-1])} or {allowed[-1]}" if len(allowed) > 1 else allowed[0]
            raise UsageError(f"{flag} takes {options}, got {value!r}")
        return value

    return check


def number(*, minimum: float | None = None, above: float | None = None, maximum: float | None = None,
           why: str = "") -> Check:
    """A number option within bounds (``above``: strictly greater); ``why`` explains the bounds."""

    def check(flag: str, value: Any) -> Any:
        bounds = [f"at least {minimum:g}" if minimum is not None else "", f"above {above:g}" if above is not None
                  else "", f"at most {maximum:g}" if maximum is not None else ""]
        if ((minimum is not None and value < minimum) or (above is not None and value <= above)
                or (maximum is not None and value > maximum)):
            reason = f" ({why})" if why else ""
            raise UsageError(f"{flag} must be {' and '.join(b for b in bounds if b)}{reason}, got {value:g}")
        return value

    return check


def install(tier: str) -> None:
    """Run ``scripts/bootstrap.sh TIER`` (installs only what is missing; a no-op run takes well under 1 s)."""
    result = subprocess.run([str(BOOTSTRAP), tier], check=False)
    if result.returncode != 0:
        raise TaskFailed(f"scripts/bootstrap.sh {tier} failed (exit {result.returncode}); its message is above")


_KINDS = {int: "a whole number", float: "a number"}


class CheckedArgument(Argument):
    """An invoke ``Argument`` whose conversion error is a usage error naming the option."""

    def set_value(self, value: Any, cast: bool = True) -> None:
        """Convert and store ``value``; a value that does not convert raises ``ParseError``."""
        try:
            super().set_value(value, cast=cast)
        except ValueError:
            flag = f"--{self.names[0]}"
            raise ParseError(f"{flag} takes {_KINDS.get(self.kind, self.kind.__name__)}, got {value!r}") from None


class ProjectTask(Task[Any]):
    """An invoke task with this project's flags, checks, error mapping and bootstrap (module docstring)."""

    def __init__(self, body: Callable[..., Any], *, accepts: Mapping[str, Check] | None = None,
                 needs: str | None = None, **kwargs: Any) -> None:
        super().__init__(body, auto_shortflags=False, **kwargs)
        self.accepts = dict(accepts or {})
        self.needs = needs

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        """invoke's arguments, long names only, plus the short flags of :data:`SHORT_FLAGS`."""
        out: list[Argument] = []
        for arg in super().get_arguments(ignore_unknown_help):
            long = arg.names[0]
            names = (long, SHORT_FLAGS[long]) if long in SHORT_FLAGS else (long,)
            out.append(CheckedArgument(names=names, kind=arg.kind, default=arg.default, help=arg.help,
                                       positional=arg.positional, optional=arg.optional,
                                       incrementable=arg.incrementable, attr_name=arg.attr_name))
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Check the options, install what the task needs, run it; known errors become an ``Exit``."""
        try:
            for name, check in self.accepts.items():
                if kwargs.get(name) is not None:
                    kwargs[name] = check(f"--{name.replace('_', '-')}", kwargs[name])
            if self.needs:
                install(self.needs)
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            mapped = exit_for(exc)
            if mapped is None:
                raise
            raise mapped from None


def task(*args: Any, accepts: Mapping[str, Check] | None = None, needs: str | None = None,
         **kwargs: Any) -> Callable[[Callable[..., Any]], ProjectTask]:
    """``@task(...)`` for this project: invoke's options plus ``accepts`` and ``needs`` (see the module)."""
    if args:
        raise TypeError("use @task(...) with keyword arguments only")

    def wrap(body: Callable[..., Any]) -> ProjectTask:
        return ProjectTask(body, accepts=accepts, needs=needs, **kwargs)

    return wrap
