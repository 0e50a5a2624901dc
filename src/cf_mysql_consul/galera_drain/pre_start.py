"""``bin/pre-start`` of the galera-drain job: rejoin the cluster BEFORE the mysql job's start timeout runs.

The cause of the seed's cycling (experiments 3 and 4), measured in the lab (bench.deploy):
cf-mysql's mysql job starts mysqld and waits for it with a start timeout
(``database_startup_timeout``); on timeout it stops mysqld and monit starts it again. A join
that takes longer than that timeout (an SST of a large datadir, or an IST of a long downtime
under load) is stopped half-way, which leaves the datadir without a usable state, so the next
attempt needs a full SST, which takes longer still: the node cycles and never rejoins, and
with rsync/xtrabackup every SST also loads (rsync: blocks) the only remaining data node. No
drain wait prevents that under a steady load: the writes made during the downtime decide
whether the node rejoins by IST (the donor's gcache still holds them) or SST.

BOSH runs every job's pre-start before monit starts any process, with no timeout of its own.
So this pre-start does the join itself, outside the mysql job's timeout: it starts mysqld
with the mysql job's own config, waits (bounded by ``timeout_seconds``) until the node is
Synced with its receive queue drained, and stops it cleanly. The mysql job's start that
follows seconds later only needs an IST of those seconds, which fits any sane start timeout.

When (``mode``): ``always``; ``never``; ``auto`` (default) = when the join is expected to be
slow: no record of a drained stop (unknown gap), a datadir without Galera state (full SST),
the writes since the drained stop exceed ``ist_margin`` x the gcache (IST unlikely, SST
instead), or the worst rejoin measured by post-start so far is at least half of the mysql
job's start timeout. Never when no other data node is healthy: then there is nothing to join
(bootstrap), and the mysql job decides.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cf_mysql_consul.galera_drain import cluster, node
from cf_mysql_consul.galera_drain.config import CatchUpConfig, JobConfig, load_config
from cf_mysql_consul.galera_drain.decide import NodeStatus
from cf_mysql_consul.galera_drain.drain import Logger
from cf_mysql_consul.hooks import pid_file_alive, run_hook

START_ALLOWANCE_SECONDS = 10.0  # mysqld start to IST request: writes during it count too


@dataclass(frozen=True, slots=True)
class CatchUpDecision:
    """Whether pre-start joins the node itself, and why in words."""

    catch_up: bool
    reason: str


def decide_catch_up(*, record: dict[str, Any] | None, has_state: bool, peers_healthy: bool, now: float,
                    worst_rejoin: float | None, config: CatchUpConfig) -> CatchUpDecision:
    """Pure: should pre-start join the node before the mysql job starts it with its timeout?"""
    if config.mode == "never":
        return CatchUpDecision(False, "galera_drain.pre_start.catch_up is never")
    if not peers_healthy:
        return CatchUpDecision(False, "no other data node is healthy: nothing to join, the mysql job decides")
    if config.mode == "always":
        return CatchUpDecision(True, "galera_drain.pre_start.catch_up is always")
    if not has_state:
        return CatchUpDecision(True, "the datadir has no Galera state: a full SST, longer than a start timeout")
    limit = config.startup_timeout_seconds
    if limit is not None and worst_rejoin is not None and worst_rejoin >= 0.5 * limit:
        return CatchUpDecision(True, f"the slowest rejoin measured here took {worst_rejoin:.0f} s, at least half of "
                                     f"the mysql job's start timeout ({limit:g} s)")
    if not record or not record.get("stopped_at"):
        return CatchUpDecision(True, "no record of a drained stop: the gap to catch up on is unknown")
    downtime = max(0.0, now - float(record["stopped_at"])) + START_ALLOWANCE_SECONDS
    missing = float(record.get("writes_per_second", 0)) * downtime * float(record.get("writeset_bytes", 0))
    gcache = float(record.get("gcache_bytes", 0))
    words = f"~{missing / 2**20:.1f} MB written in {downtime:.0f} s of downtime vs gcache {gcache / 2**20:.0f} MB"
    if gcache <= 0 or missing > config.ist_margin * gcache:
        return CatchUpDecision(True, f"IST unlikely ({words}): an SST, joined here without the start timeout")
    return CatchUpDecision(False, f"IST expected ({words})")


def has_galera_state(datadir: str) -> bool:
    """True when ``grastate.dat`` names a cluster (a node that was part of one)."""
    try:
        text = (Path(datadir) / "grastate.dat").read_text()
    except OSError:
        return False
    uuid = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("uuid:")), "")
    return bool(uuid) and set(uuid) - {"0", "-"} != set()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def catch_up(config: JobConfig, cu: CatchUpConfig, log: Logger, *, poll: float = 1.0) -> tuple[bool, str]:
    """Start mysqld, wait until Synced and drained (bounded), stop it cleanly: (ok, what happened)."""
    started = time.monotonic()
    child = subprocess.Popen(list(cu.mysqld_argv), preexec_fn=_die_with_parent,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log(f"pre-start: catching up outside the mysql job's start timeout: {' '.join(cu.mysqld_argv)} (pid {child.pid})")
    status = NodeStatus(running=False)
    ok, last_note = False, started
    while time.monotonic() - started < cu.timeout_seconds:
        if child.poll() is not None:
            return False, f"mysqld exited with {child.returncode} while joining (see the mysql error log)"
        status = node.read_once(config.mysql)
        if status.state == "Synced" and status.ready and status.recv_queue <= config.post_start.max_recv_queue:
            ok = True
            break
        if time.monotonic() - last_note >= 10:
            log(f"pre-start: joining ({time.monotonic() - started:.0f}s): "
                f"{status.error or f'{status.state}, receive queue {status.recv_queue}'}")
            last_note = time.monotonic()
        time.sleep(poll)
    joined = time.monotonic() - started
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(cu.stop_timeout_seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return False, f"mysqld did not stop within {cu.stop_timeout_seconds:g} s after the catch-up (killed)"
    if not ok:
        return False, (f"the node did not rejoin within {cu.timeout_seconds:g} s "
                       f"({status.error or status.state}); stopped it")
    return True, f"joined (Synced, drained) in {joined:.1f} s, stopped cleanly after {time.monotonic() - started:.1f} s"


def _main(config: JobConfig, _args: argparse.Namespace, _bosh_args: list[str]) -> int:
    log = Logger(config.log_path, config.log_level)
    cu = config.catch_up
    if pid_file_alive(config.mysql.pid_file):
        log("pre-start: mysqld is already running: nothing to do")
        return 0
    state_dir = Path(config.state_path).parent
    peers_healthy = any(cluster.peer_status(p).healthy for p in config.peers)
    rejoins = _read_json(state_dir / "rejoins.json") or {}
    verdict = decide_catch_up(record=_read_json(state_dir / "stop-record.json"), has_state=has_galera_state(cu.datadir),
                              peers_healthy=peers_healthy, now=time.time(),
                              worst_rejoin=rejoins.get("worst_seconds"), config=cu)
    log(f"pre-start: {'catch up' if verdict.catch_up else 'no catch-up'}: {verdict.reason}")
    (state_dir / "stop-record.json").unlink(missing_ok=True)
    if not verdict.catch_up:
        return 0
    ok, what = catch_up(config, cu, log)
    log(f"pre-start: {'done' if ok else 'FAILED'}: {what}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when nothing was needed or the catch-up worked; 1 with the reason otherwise."""
    return run_hook("galera-drain pre-start", argv, load_config, _main)


if __name__ == "__main__":
    sys.exit(main())
