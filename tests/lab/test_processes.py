"""The lab's process handling on real processes: a process and everything it starts live and die
together, as in a BPM container (a Galera joiner's SST listener must not outlive mariadbd)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from cf_mysql_consul_tools.lab import processes as procs
from cf_mysql_consul_tools.lab.waiting import wait_until

# The leader starts a child in the background and stays in the foreground, as mariadbd does with
# its SST script; the child's PID is written to /var/vcap/child.pid. The child is ``timeout``, which
# moves itself to a process group of its own, as the SST script's ``timeout socat`` listener does.
LEADER_WITH_CHILD = "timeout 300 sleep 300 & echo $! > /var/vcap/child.pid; exec sleep 300"


def spawn_with_child(tmp_path: Path, script: str = LEADER_WITH_CHILD) -> tuple[procs.ProcessRecord, int]:
    spec = procs.ProcessSpec(job="test", name="leader", executable="/bin/sh", args=("-c", script))
    record = procs.spawn(tmp_path, spec, tmp_path / "log")
    pid_file = tmp_path / "child.pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", timeout=10, what="the child's PID")
    return record, int(pid_file.read_text())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_kill_takes_the_children_with_the_process(tmp_path: Path) -> None:
    record, child = spawn_with_child(tmp_path)
    assert os.getpgid(child) != os.getpgid(record.pid)
    assert child in procs.leftovers(record)
    procs.kill(record)
    assert not procs.is_ours_and_alive(record)
    assert not alive(child)


def test_terminate_stops_the_process_and_then_what_it_left_behind(tmp_path: Path) -> None:
    # The leader exits on SIGTERM at once; its child (SIGTERM is only sent to the leader) would live on.
    record, child = spawn_with_child(tmp_path)
    procs.terminate(record, grace=5)
    assert not procs.is_ours_and_alive(record)
    assert not alive(child)


def test_a_crashed_leader_leaves_children_that_reap_leftovers_kills(tmp_path: Path) -> None:
    record, child = spawn_with_child(tmp_path)
    os.kill(record.pid, signal.SIGKILL)  # the leader alone dies, as mariadbd does when it crashes
    wait_until(lambda: not procs.is_ours_and_alive(record), timeout=10, what="the leader to die")
    assert alive(child) and child in procs.leftovers(record)
    procs.reap_leftovers(record)
    assert not alive(child)


def test_reap_leftovers_leaves_a_live_leader_and_its_children_alone(tmp_path: Path) -> None:
    record, child = spawn_with_child(tmp_path)
    try:
        procs.reap_leftovers(record)
        assert procs.is_ours_and_alive(record) and alive(child)
    finally:
        procs.kill(record)


def test_pause_and_resume_reach_the_children(tmp_path: Path) -> None:
    record, child = spawn_with_child(tmp_path)
    try:
        procs.send(record, signal.SIGSTOP, session=True)
        wait_until(lambda: state(child) in ("T", "t"), timeout=10, what="the child to stop")
        # A signal is delivered when the kernel next schedules the process: poll the leader's state too.
        wait_until(lambda: procs.process_state(record) == "paused", timeout=10, what="the leader to stop")
        procs.send(record, signal.SIGCONT, session=True)
        wait_until(lambda: state(child) == "S", timeout=10, what="the child to run again")
        wait_until(lambda: procs.process_state(record) == "running", timeout=10, what="the leader to run again")
    finally:
        procs.kill(record)
