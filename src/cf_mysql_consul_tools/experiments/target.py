"""What an experiment drives: the local lab or a BOSH deployment, through one small interface.

The runner, the fault runner, the topology and the audits use exactly these members of
:class:`cf_mysql_consul_tools.lab.lab.Lab`; :class:`cf_mysql_consul_tools.experiments.bosh_target.BoshTarget`
offers the same ones with bosh commands behind them. Instance names are ``group/index``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance


class ProcessKey(Protocol):
    """A process of an instance, named ``job.process`` as the lab names it (``proxy.proxy``)."""

    @property
    def key(self) -> str:
        """``job.process``."""
        ...


class Target(Protocol):
    """A deployment of this release that an experiment can observe and fault."""

    @property
    def deployment(self) -> Deployment:
        """Instances (with their addresses) and the jobs each runs, with their properties."""
        ...

    def instance(self, name: str) -> Instance:
        """Look up ``group/index``."""
        ...

    def instance_dir(self, inst: Instance) -> Path:
        """A local directory laid out like the instance's ``/var/vcap`` (at least its proxy and lock logs)."""
        ...

    def records(self, inst: Instance) -> Sequence[ProcessKey]:
        """The processes the instance runs."""
        ...

    def kill(self, name: str, process: str | None = None) -> None:
        """SIGKILL the instance's processes (or one); nothing restarts them until ``start``."""
        ...

    def stop(self, name: str, process: str | None = None) -> None:
        """Stop them gracefully (SIGTERM, then SIGKILL)."""
        ...

    def start(self, name: str, process: str | None = None) -> None:
        """Start them and wait until they are healthy."""
        ...

    def pause(self, name: str, process: str | None = None) -> None:
        """SIGSTOP: the process hangs, its sockets stay open."""
        ...

    def resume(self, name: str, process: str | None = None) -> None:
        """SIGCONT what ``pause`` stopped."""
        ...

    def mysql(self, name: str, *, database: str | None = None, **kwargs: Any) -> Any:
        """A pymysql connection to a mysql node as the admin user."""
        ...

    def galera_status(self, name: str) -> dict[str, str]:
        """``wsrep_%`` status of a mysql node (raises when it does not answer)."""
        ...
