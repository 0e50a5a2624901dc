"""``bin/post-start`` of the galera-drain job: block until the node has rejoined, bounded.

Rejoined = Synced, ``wsrep_ready=ON``, cluster Primary, receive queue at most
``post_start.max_recv_queue``. BOSH runs post-start after the job's processes started and only
then moves on to the next instance, so a node still joining (SST/IST, catching up) holds the
rolling deploy here instead of the next node going down too. On timeout: exit 1 with the
node's state, which BOSH shows as the deploy's error. The drain's state file is removed: the
next drain starts fresh.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cf_mysql_consul.galera_drain import events, node
from cf_mysql_consul.galera_drain.config import JobConfig, load_config
from cf_mysql_consul.galera_drain.decide import PostStartDecision, decide_post_start
from cf_mysql_consul.galera_drain.drain import Logger
from cf_mysql_consul.hooks import run_hook


def wait_rejoined(config: JobConfig, *, poll_seconds: float = 0.5, note_every: float = 10.0) -> PostStartDecision:
    """Poll the local node until ``decide_post_start`` says done or failed."""
    log = Logger(config.log_path, config.log_level)
    started = time.monotonic()
    last_note = started
    last_reason = ""
    while True:
        elapsed = time.monotonic() - started
        verdict = decide_post_start(node.read_once(config.mysql), elapsed, config.post_start)
        if verdict.done or verdict.failed:
            return verdict
        since_note = time.monotonic() - last_note
        if (verdict.reason != last_reason and since_note >= 1.0) or since_note >= note_every:
            log(f"post-start: waiting ({elapsed:.0f}s): {verdict.reason}")
            last_note, last_reason = time.monotonic(), verdict.reason
        time.sleep(poll_seconds)


def record_rejoin(path: Path, seconds: float) -> None:
    """Keep the slowest and the last rejoin (mysqld start to Synced) for pre-start's judgement."""
    try:
        known = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        known = {}
    worst = max(float(known.get("worst_seconds", 0) if isinstance(known, dict) else 0), seconds)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"worst_seconds": worst, "last_seconds": seconds}))


def _main(config: JobConfig, _args: argparse.Namespace, _bosh_args: list[str]) -> int:
    Path(config.state_path).unlink(missing_ok=True)
    started = time.monotonic()
    verdict = wait_rejoined(config)
    waited = round(time.monotonic() - started, 3)
    events.record(config, events.POST_START, verdict.reason, outcome="rejoined" if verdict.done else "timed_out",
                  seconds=waited)
    log = Logger(config.log_path, config.log_level)
    if verdict.done:
        uptime = node.uptime_seconds(config.mysql)
        log(f"post-start: rejoined: {verdict.reason}; mysqld up {uptime if uptime is not None else '?'} s")
        if uptime is not None and uptime <= config.post_start.timeout_seconds:  # else: not a fresh start
            record_rejoin(Path(config.state_path).with_name("rejoins.json"), uptime)
        return 0
    log(f"post-start: FAILED: {verdict.reason}. Read /var/vcap/sys/log/mysql/mysql.err.log (SST/IST progress) "
        f"and check the other nodes; a node that cannot catch up under load needs a larger gcache (IST instead "
        f"of SST) or less write load while it rejoins")
    return 1


def main(argv: list[str] | None = None) -> int:
    """Exit 0 once the node rejoined, 1 with its state after the timeout."""
    return run_hook("galera-drain post-start", argv, load_config, _main)


if __name__ == "__main__":
    sys.exit(main())
