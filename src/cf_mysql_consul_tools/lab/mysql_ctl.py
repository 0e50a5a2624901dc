"""The lab's stand-in for how cf-mysql-release v26 starts its ``mysql`` job: monit, ``mariadb_ctl``
and ``mariadb_ctrl``, as the seed's era ran them.

Selected per mysql job with ``lab.start_behaviour: cf-mysql`` (``direct`` runs mariadbd with
no start program). cf-mysql-release v26 (2016-02; its v26.x patch line ran to 2017-07), read
from its sources (``jobs/mysql/monit``, ``jobs/mysql/templates/mariadb_ctl.erb``,
``mariadb_ctl_config.yml.erb``; mariadb_ctrl 562a500 ``main.go``,
``start_manager/runner.go``, ``start_manager/start_manager.go``,
``start_manager/node_starter/starter.go``) and monit 5.2.5's (``control.c``, ``validate.c``):

- One property, ``cf_mysql.mysql.database_startup_timeout`` = T seconds (no default in the job
  spec; cf-mysql's manifest generation sets 600, its Known-Issues page says 150). It is used
  twice: ``mariadb_ctrl``'s ``DatabaseStartupTimeout`` = round(0.8 T), and monit's start
  timeout = round(0.9 T).
- ``monit start`` runs ``mariadb_ctl start``, which launches ``mariadb_ctrl`` in the background
  and exits 0. ``mariadb_ctrl`` first stops a mysqld left over from an earlier attempt, starts
  mysqld (a join: Galera picks IST or SST), then tries ``floor(0.8 T / 5)`` times, 5 s apart,
  to reach the database as the admin user. Reached: it seeds users and writes the pidfile
  monit watches (the job is "running"). Not reached: "Timeout: Database not reachable", it
  **stops mysqld** (``mysql.server stop``, even mid-transfer) and exits without a pidfile.
- Monit waits up to round(0.9 T) for the pidfile, then logs "failed to start". On each later
  cycle (``set daemon 10``) the process does not exist, so monit restarts it: the stop
  program is a no-op without a pidfile, the start program launches a new ``mariadb_ctrl``,
  which begins a new join from scratch. No cf-mysql monit file has a "restarts within cycles"
  rule, so this repeats forever: an attempt every ~0.9 T + 10 s.

A join cut half-way leaves the datadir without a usable Galera state, so every later attempt
needs a full SST: while the load keeps each SST longer than 0.8 T, the node never comes back
(the seed's experiments 3 and 4).

This process plays all three for the one job: it keeps its PID (the lab's ``mysql.mariadbd``
record), forwards SIGTERM to mariadbd (``monit stop``), and mariadbd gets SIGKILL if it dies
(PR_SET_PDEATHSIG), so a SIGKILL of the record still kills the server. Every step is one JSON
line in ``events_path``: ``start`` (an attempt's mysqld), ``running`` (reached: monit's pidfile),
``timeout`` (mariadb_ctrl gave up and stops mysqld), ``failed to start`` (monit gave up waiting),
``exited`` (mysqld ended on its own), ``stop`` (monit stop). Tests and experiments count cycles
there.

Run as ``python -m cf_mysql_consul_tools.lab.mysql_ctl CONFIG.json [--bootstrap]``.
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pymysql

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 5.0        # mariadb_ctrl: StartupPollingFrequencyInSeconds
MONIT_CYCLE_SECONDS = 10.0  # the stemcell's monitrc: set daemon 10
STOP_GRACE_SECONDS = 110.0  # below the lab's 120 s stop grace for this process
# The smallest database_startup_timeout that gives mariadb_ctrl two tries: its first, at once, never
# finds a mysqld that has just been started (below 12 s nothing can ever start).
MIN_DATABASE_STARTUP_TIMEOUT = 12


@dataclass(frozen=True, slots=True)
class Timeouts:
    """cf-mysql v26's two uses of ``database_startup_timeout`` (T seconds)."""

    ctrl_seconds: int   # mariadb_ctrl's DatabaseStartupTimeout: round(0.8 T)
    monit_seconds: int  # monit's start timeout: round(0.9 T)

    @classmethod
    def of(cls, database_startup_timeout: float) -> Timeouts:
        """The templates' arithmetic (Ruby's ``round``: halves away from zero)."""
        return cls(ctrl_seconds=_ruby_round(database_startup_timeout * 0.8),
                   monit_seconds=_ruby_round(database_startup_timeout * 0.9))

    @property
    def tries(self) -> int:
        """mariadb_ctrl's ``maxDatabaseSeedTries``: DatabaseStartupTimeout / 5 (integer division)."""
        return self.ctrl_seconds // int(POLL_SECONDS)


def _ruby_round(x: float) -> int:
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


@dataclass(frozen=True, slots=True)
class CtlConfig:
    """What the stand-in runs and how long it waits (from the JSON the stand-in renders)."""

    mariadbd_argv: tuple[str, ...]
    bootstrap_arg: str | None
    socket: str
    database_startup_timeout: float
    events_path: str
    poll_seconds: float = POLL_SECONDS
    monit_cycle_seconds: float = MONIT_CYCLE_SECONDS
    stop_grace_seconds: float = STOP_GRACE_SECONDS

    @property
    def timeouts(self) -> Timeouts:
        """mariadb_ctrl's and monit's timeouts."""
        return Timeouts.of(self.database_startup_timeout)

    @classmethod
    def load(cls, path: str) -> CtlConfig:
        """Read the JSON the stand-in wrote."""
        raw: dict[str, Any] = json.loads(Path(path).read_text())
        return cls(
            mariadbd_argv=tuple(raw["mariadbd_argv"]), bootstrap_arg=raw.get("bootstrap_arg"),
            socket=str(raw["socket"]), database_startup_timeout=float(raw["database_startup_timeout"]),
            events_path=str(raw["events_path"]),
            poll_seconds=float(raw.get("poll_seconds", POLL_SECONDS)),
            monit_cycle_seconds=float(raw.get("monit_cycle_seconds", MONIT_CYCLE_SECONDS)),
            stop_grace_seconds=float(raw.get("stop_grace_seconds", STOP_GRACE_SECONDS)),
        )


def reachable(socket: str) -> tuple[bool, str]:
    """mariadb_ctrl's ``IsDatabaseReachable``: the admin user connects and pings (no Galera state is
    asked: a node in the middle of an IST already answers)."""
    try:
        conn = pymysql.connect(unix_socket=socket, user="root", connect_timeout=2, read_timeout=5)
    except pymysql.MySQLError as exc:
        return False, f"not reachable ({exc.args[-1] if exc.args else exc})"
    try:
        conn.ping(reconnect=False)
        return True, "reachable"
    except pymysql.MySQLError as exc:
        return False, f"ping failed ({exc})"
    finally:
        conn.close()


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Supervisor:
    """monit + mariadb_ctl + mariadb_ctrl for one mysql job (see the module docstring)."""

    def __init__(self, config: CtlConfig, *, bootstrap: bool) -> None:
        self.config = config
        self.bootstrap = bootstrap
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def emit(self, event: str, **fields: Any) -> None:
        """Append one event line (and echo it to stdout, the job's log)."""
        line = json.dumps({"ts": round(time.time(), 3), "event": event, **fields})
        with open(self.config.events_path, "a") as out:
            out.write(line + "\n")
        print(f"mysql_ctl: {line}", flush=True)

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """``monit stop``: stop mariadbd and exit (no further attempt)."""
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def _stop_child(self) -> None:
        """``mysql.server stop``: SIGTERM, wait for the exit (SIGKILL only past the stop grace)."""
        child = self.child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(self.config.stop_grace_seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _attempt(self, attempt: int) -> str:
        """One mariadb_ctrl: ``running`` (then mysqld's end), ``timeout``, ``exited`` or ``stop``."""
        timeouts = self.config.timeouts
        argv = list(self.config.mariadbd_argv)
        if self.bootstrap and attempt == 1 and self.config.bootstrap_arg:
            argv.append(self.config.bootstrap_arg)
        self._stop_child()  # mariadb_ctrl's Execute: a mysqld left over from an earlier attempt is stopped first
        started = time.monotonic()
        self.child = subprocess.Popen(argv, preexec_fn=_die_with_parent)
        self.emit("start", attempt=attempt, pid=self.child.pid, ctrl_timeout_seconds=timeouts.ctrl_seconds,
                  monit_timeout_seconds=timeouts.monit_seconds)
        state = "not polled"
        for _ in range(timeouts.tries):
            if self.stopping:
                return "stop"
            if self.child.poll() is not None:
                self.emit("exited", attempt=attempt, code=self.child.returncode, state=state)
                return "exited"
            ok, state = reachable(self.config.socket)
            if ok:
                self.emit("running", attempt=attempt, seconds=round(time.monotonic() - started, 2))
                return "running"
            self._sleep(self.config.poll_seconds)
        if self.stopping:
            return "stop"
        self.emit("timeout", attempt=attempt, state=state, seconds=round(time.monotonic() - started, 2),
                  detail=f"Timeout: Database not reachable after {timeouts.ctrl_seconds} seconds; stopping mysqld")
        return "timeout"

    def run(self) -> int:
        """Attempt until one is running (then wait for mysqld's end) or until SIGTERM (0)."""
        attempt = 0
        while not self.stopping:
            attempt += 1
            began = time.monotonic()
            outcome = self._attempt(attempt)
            if outcome == "running":
                code = self.child.wait() if self.child is not None else 0
                self.emit("stop" if self.stopping else "exited", attempt=attempt, code=code)
                return 0 if self.stopping else code
            if outcome == "stop":
                break
            if outcome == "timeout":
                # mariadb_ctrl stops mysqld on its way out; monit waits for a pidfile that never comes.
                self._stop_child()
            self._sleep(self.config.timeouts.monit_seconds - (time.monotonic() - began))
            if not self.stopping:
                self.emit("failed to start", attempt=attempt,
                          detail=f"monit: no pidfile after {self.config.timeouts.monit_seconds} s; it restarts the "
                                 "job on its next cycle")
            self._sleep(self.config.monit_cycle_seconds)
        self._stop_child()
        self.emit("stop", attempt=attempt)
        return 0


def main(argv: list[str]) -> int:
    """Entry point: ``CONFIG.json [--bootstrap]``."""
    if not argv or len(argv) > 2:
        print("usage: python -m cf_mysql_consul_tools.lab.mysql_ctl CONFIG.json [--bootstrap]", file=sys.stderr)
        return 2
    supervisor = Supervisor(CtlConfig.load(argv[0]), bootstrap="--bootstrap" in argv[1:])
    signal.signal(signal.SIGTERM, supervisor.on_sigterm)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
