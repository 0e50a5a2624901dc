"""The lab's stand-in for cf-mysql's ``mariadb_ctl``/``mariadb_ctrl`` start behaviour.

Selected per mysql job with ``lab.start_behaviour: cf-mysql`` (the default behaviour is to run
``mariadbd`` directly). What cf-mysql did, as its sources and docs say:

- start mysqld, then wait for the node to be ready (Synced, ``wsrep_ready=ON``) for at most
  ``database_startup_timeout`` seconds (cf-mysql's property, default 150 s; monit's own start
  timeout was 30 s in older versions);
- on timeout, stop mysqld (cf-mysql v23 and later; before, it left it running) and fail, and
  monit starts the job again: a stop/start cycle that repeats while the node cannot become
  Synced in time. Each cycle is a Galera membership change and a new state transfer.

This supervisor does the same in one process: attempt, wait for Synced with a deadline, on
timeout SIGTERM mariadbd and start it again after ``retry_delay_seconds``. It keeps its PID
(the lab's ``mysql.mariadbd`` record), forwards SIGTERM to mariadbd, and mariadbd gets SIGKILL
if the supervisor dies (PR_SET_PDEATHSIG), so a SIGKILL of the record still kills the server.
Every attempt is one JSON line in ``events_path`` (``{"event": "start"|"synced"|"timeout"|
"exited"|"stop", "attempt": N, ...}``): tests and experiments count cycles there.

Run as ``python -m cf_mysql_consul_tools.lab.mysql_ctl CONFIG.json``.
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
STOP_GRACE_SECONDS = 110.0  # below the lab's 120 s stop grace for this process


@dataclass(frozen=True, slots=True)
class CtlConfig:
    """What the supervisor runs and how long it waits (from the stand-in's rendered JSON)."""

    mariadbd_argv: tuple[str, ...]
    bootstrap_arg: str | None
    socket: str
    start_timeout_seconds: float
    retry_delay_seconds: float
    events_path: str
    stop_grace_seconds: float = STOP_GRACE_SECONDS

    @classmethod
    def load(cls, path: str) -> CtlConfig:
        """Read the JSON the stand-in wrote."""
        raw: dict[str, Any] = json.loads(Path(path).read_text())
        return cls(
            mariadbd_argv=tuple(raw["mariadbd_argv"]), bootstrap_arg=raw.get("bootstrap_arg"),
            socket=str(raw["socket"]), start_timeout_seconds=float(raw["start_timeout_seconds"]),
            retry_delay_seconds=float(raw.get("retry_delay_seconds", 1.0)), events_path=str(raw["events_path"]),
            stop_grace_seconds=float(raw.get("stop_grace_seconds", STOP_GRACE_SECONDS)),
        )


def node_state(socket: str) -> tuple[bool, str]:
    """(ready, description) of the local node: ready = Synced and ``wsrep_ready=ON``."""
    try:
        conn = pymysql.connect(unix_socket=socket, user="root", connect_timeout=2, read_timeout=5)
    except pymysql.MySQLError as exc:
        return False, f"not answering ({exc.args[-1] if exc.args else exc})"
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                        "('wsrep_ready','wsrep_local_state_comment','wsrep_local_recv_queue')")
            st = {str(k): str(v) for k, v in cur.fetchall()}
    except pymysql.MySQLError as exc:
        return False, f"status query failed ({exc})"
    finally:
        conn.close()
    comment = st.get("wsrep_local_state_comment", "?")
    return (comment == "Synced" and st.get("wsrep_ready") == "ON"), (
        f"{comment}, wsrep_ready={st.get('wsrep_ready')}, recv queue {st.get('wsrep_local_recv_queue')}")


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Supervisor:
    """Attempt, wait for Synced with a deadline, stop and retry on timeout; stop on SIGTERM."""

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
        """BPM stop: stop mariadbd and exit (no retry)."""
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def _stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(self.config.stop_grace_seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def run(self) -> int:
        """Loop until SIGTERM (0) or until mariadbd exits after it was Synced (its code)."""
        attempt = 0
        while not self.stopping:
            attempt += 1
            argv = list(self.config.mariadbd_argv)
            if self.bootstrap and attempt == 1 and self.config.bootstrap_arg:
                argv.append(self.config.bootstrap_arg)
            started = time.monotonic()
            self.child = subprocess.Popen(argv, preexec_fn=_die_with_parent)
            self.emit("start", attempt=attempt, pid=self.child.pid,
                      timeout_seconds=self.config.start_timeout_seconds)
            state = "not polled"
            while not self.stopping:
                if self.child.poll() is not None:
                    self.emit("exited", attempt=attempt, code=self.child.returncode, state=state)
                    break
                ready, state = node_state(self.config.socket)
                if ready:
                    self.emit("synced", attempt=attempt, seconds=round(time.monotonic() - started, 2))
                    code = self.child.wait()
                    self.emit("stop" if self.stopping else "exited", attempt=attempt, code=code)
                    return 0 if self.stopping else code
                if time.monotonic() - started >= self.config.start_timeout_seconds:
                    self.emit("timeout", attempt=attempt, state=state,
                              seconds=round(time.monotonic() - started, 2))
                    self._stop_child()
                    break
                time.sleep(0.5)
            if self.stopping:
                break
            time.sleep(self.config.retry_delay_seconds)
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
