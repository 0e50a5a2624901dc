"""Starting, signalling and stopping the lab's processes, each inside its instance's view of /var/vcap.

Every process runs as ``unshare --mount`` + ``mount --bind INSTANCE_DIR /var/vcap`` + ``exec``:
it keeps its PID, sees its own instance directory as ``/var/vcap``, and the host's
``/var/vcap`` stays empty. Given the instance's cgroup, the wrapper first moves itself into it,
so everything the process starts (and every socket it opens) belongs to the instance; the lab's
partitions (``partitions``) tell instances apart by it. The lab records each PID with its kernel start time, so it only
ever signals processes it started itself (a reused PID is not ours).

Each process leads a session of its own, like a BPM container: a crash (``kill``) and a hang
(``pause``) hit the whole session (every process it started), and whatever the leader leaves behind when it exits (a
Galera joiner's SST listener on port 4444 when mariadbd dies mid-transfer) is killed with it,
as runc kills a container's remaining processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cf_mysql_consul_tools.lab.waiting import wait_until

HOST_VCAP = Path("/var/vcap")
STOP_GRACE_SECONDS = 20.0  # BPM: SIGTERM, then SIGKILL after ~20 s


class ProcessError(RuntimeError):
    """A lab process could not be started or stopped."""


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """What to run for one process of a job, as a BPM process entry describes it."""

    job: str
    name: str
    executable: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``job.process``: this process's name in the lab's records and commands."""
        return f"{self.job}.{self.name}"


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A started process: its PID and kernel start time prove it is still the one we started."""

    key: str
    pid: int
    start_ticks: int
    argv: list[str]
    stdout: str
    stderr: str


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the ")" that ends the command name.
    return int(stat.rsplit(")", 1)[1].split()[19])


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def leftovers(record: ProcessRecord) -> list[int]:
    """PIDs still alive in the session ``record``'s process led, other than the leader itself.

    A member of the session started after the leader did; a session id cannot be handed to a
    new process while any member lives, so these are the leader's descendants.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == record.pid:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state, ppid, pgrp, session ... starttime (index 19).
        if int(fields[3]) == record.pid and int(fields[19]) >= record.start_ticks and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def reap_leftovers(record: ProcessRecord) -> None:
    """SIGKILL what the session of a dead leader left running, and wait until it is gone."""
    if is_ours_and_alive(record):
        return

    def none_left() -> bool:
        left = leftovers(record)
        _signal_all(left, signal.SIGKILL)  # again each time: a dying shell may still fork
        return not left
    wait_until(none_left, timeout=10, what=f"what {record.key} (pid {record.pid}) left behind to die")


class ProcessTable:
    """The records of one instance's processes, kept as JSON files under ``run_dir``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def _path(self, key: str) -> Path:
        return self.run_dir / f"{key}.json"

    def get(self, key: str) -> ProcessRecord | None:
        """The record of ``key`` if there is one (alive or not)."""
        try:
            return ProcessRecord(**json.loads(self._path(key).read_text()))
        except FileNotFoundError:
            return None

    def names(self) -> list[str]:
        """Keys of every recorded process, sorted."""
        if not self.run_dir.exists():
            return []
        return sorted(p.stem for p in self.run_dir.glob("*.json"))

    def put(self, record: ProcessRecord) -> None:
        """Save a record."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._path(record.key).write_text(json.dumps(asdict(record)))

    def forget(self, key: str) -> None:
        """Drop a record."""
        self._path(key).unlink(missing_ok=True)


def is_ours_and_alive(record: ProcessRecord) -> bool:
    """True while the recorded PID is the process we started and it has not exited."""
    return _start_ticks(record.pid) == record.start_ticks and _state(record.pid) not in (None, "Z", "X")


def process_state(record: ProcessRecord | None) -> str:
    """``running``, ``paused`` (SIGSTOP), or ``stopped``."""
    if record is None or not is_ours_and_alive(record):
        return "stopped"
    return "paused" if _state(record.pid) in ("T", "t") else "running"


# $0: the instance directory; $1: the cgroup's cgroup.procs file ("" = none); then the command.
_ENTER = 'cg=$1; shift; if [ -n "$cg" ]; then echo $$ > "$cg" || exit 125; fi; ' \
         'mount --bind "$0" /var/vcap && cd / && exec "$@"'


def in_instance(instance_dir: Path, argv: list[str], cgroup: Path | None = None) -> list[str]:
    """``argv`` wrapped to run in the instance: in its cgroup (a directory of the cgroup v2 tree, or
    None), seeing ``instance_dir`` as /var/vcap, with its own PID."""
    procs_file = str(cgroup / "cgroup.procs") if cgroup is not None else ""
    HOST_VCAP.mkdir(parents=True, exist_ok=True)
    return ["unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", _ENTER, str(instance_dir), procs_file, *argv]


def spawn(instance_dir: Path, spec: ProcessSpec, log_dir: Path, *, cgroup: Path | None = None) -> ProcessRecord:
    """Start ``spec`` detached, seeing ``instance_dir`` as /var/vcap, in ``cgroup`` when given; logs
    go to ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout = log_dir / f"{spec.name}.stdout.log"
    stderr = log_dir / f"{spec.name}.stderr.log"
    argv = [spec.executable, *spec.args]
    wrapper = in_instance(instance_dir, argv, cgroup)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": "/var/vcap",
        **spec.env,
    }
    with stdout.open("ab") as out, stderr.open("ab") as err:
        proc = subprocess.Popen(
            wrapper, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True,
        )
    ticks = _start_ticks(proc.pid)
    if ticks is None:
        raise ProcessError(f"{spec.key} exited at once; see {stderr}")
    return ProcessRecord(
        key=spec.key, pid=proc.pid, start_ticks=ticks, argv=argv, stdout=str(stdout), stderr=str(stderr)
    )


def send(record: ProcessRecord, sig: signal.Signals, *, session: bool = False) -> bool:
    """Send ``sig`` to the recorded process (with ``session``, also to every process of its session)
    if it is still ours; False when it was gone.

    The session, not the process group: mariadbd runs its SST listener under ``timeout``,
    which moves it to a process group of its own.
    """
    if not is_ours_and_alive(record):
        return False
    try:
        os.kill(record.pid, sig)
    except ProcessLookupError:
        return False
    if session:
        _signal_all(leftovers(record), sig)
    return True


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def terminate(record: ProcessRecord, grace: float = STOP_GRACE_SECONDS) -> None:
    """BPM-style stop: SIGTERM to the process, SIGCONT to its session (a paused process cannot
    exit), SIGKILL to the session after ``grace``; then SIGKILL to whatever it left behind."""
    if send(record, signal.SIGTERM):
        send(record, signal.SIGCONT, session=True)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and is_ours_and_alive(record):
            time.sleep(0.05)
        if send(record, signal.SIGKILL, session=True):
            _wait_dead(record)
    reap_leftovers(record)


def kill(record: ProcessRecord) -> None:
    """SIGKILL the process's whole session (a crash) and wait until it is gone."""
    if send(record, signal.SIGKILL, session=True):
        _wait_dead(record)
    reap_leftovers(record)


def _wait_dead(record: ProcessRecord) -> None:
    wait_until(lambda: not is_ours_and_alive(record), timeout=10, what=f"{record.key} (pid {record.pid}) to die")
