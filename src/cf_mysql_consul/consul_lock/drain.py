"""``bin/drain`` for consul-lock: ask the running daemon to hand over, wait until it has.

BOSH runs this at the same time as the proxy's own ``bin/drain``. They cooperate:
- this script signals the daemon (SIGUSR1); the daemon puts the proxy into drain
  (``POST /v0/drain``: no new clients, open sessions may finish), releases the key (no
  lock-delay) and destroys its session, so the standby acquires at once;
- the proxy's drain sees ``draining`` and waits for open sessions, bounded by its shutdown_delay;
- if the proxy's drain wins the race, the daemon's next lease renewal is refused (409) or it sees
  the proxy draining, and it releases the key then (within one renew interval).
So: traffic off on this proxy first, key released, standby active; never two enabled.
Stdout carries exactly one integer (0); messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from cf_mysql_consul.consul_lock.config import ConfigError, load_config


def _say(text: str) -> None:
    print(f"consul-lock drain: {text}", file=sys.stderr, flush=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"))


def drain(pid_path: str, state_path: str, timeout: float, *, poll_seconds: float = 0.05) -> str:
    """Signal the daemon and wait (at most ``timeout``) until it reports it stepped down."""
    try:
        pid = int(Path(pid_path).read_text().strip())
    except (OSError, ValueError):
        return "no consul-lock process (no pid file): nothing to hand over"
    if not _alive(pid):
        return f"consul-lock (pid {pid}) is not running: nothing to hand over"
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    state: dict[str, object] = {}
    while time.monotonic() < deadline:
        try:
            state = json.loads(Path(state_path).read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("stepped_down"):
            return f"handed over: {state.get('reason')}"
        if not _alive(pid):
            return "consul-lock exited while stepping down"
        time.sleep(poll_seconds)
    return f"not stepped down after {timeout:g} s (last state: {state.get('reason')}); the proxy's lease runs out"


def main(argv: list[str] | None = None) -> int:
    """Entry point; BOSH's own arguments (job_shutdown, hash_changed, ...) are accepted and ignored."""
    parser = argparse.ArgumentParser(prog="cf_mysql_consul.consul_lock.drain")
    parser.add_argument("--config", required=True)
    args, bosh_args = parser.parse_known_args(argv)
    try:
        config, _ = load_config(args.config)
    except ConfigError as exc:
        _say(f"invalid config, not draining: {exc}")
        print(0)
        return 0
    started = time.monotonic()
    _say(f"called with {' '.join(bosh_args) or 'no arguments'}")
    _say(drain(config.pid_path, config.state_path, config.drain_timeout_seconds))
    _say(f"done in {time.monotonic() - started:.2f} s")
    print(0, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
