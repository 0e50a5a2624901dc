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

from cf_mysql_consul.consul_lock.config import LockConfig, load_config
from cf_mysql_consul.hooks import pid_alive, run_hook, say

HOOK = "consul-lock drain"


def drain(pid_path: str, state_path: str, timeout: float, *, poll_seconds: float = 0.05) -> str:
    """Signal the daemon and wait (at most ``timeout``) until it reports it stepped down."""
    try:
        pid = int(Path(pid_path).read_text().strip())
    except (OSError, ValueError):
        return "no consul-lock process (no pid file): nothing to hand over"
    if not pid_alive(pid):
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
        if not pid_alive(pid):
            return "consul-lock exited while stepping down"
        time.sleep(poll_seconds)
    return f"not stepped down after {timeout:g} s (last state: {state.get('reason')}); the proxy's lease runs out"


def _main(config: LockConfig, args: argparse.Namespace, bosh_args: list[str]) -> int:
    started = time.monotonic()
    say(HOOK, f"called with {' '.join(bosh_args) or 'no arguments'}")
    say(HOOK, drain(config.pid_path, config.state_path, config.drain_timeout_seconds))
    say(HOOK, f"done in {time.monotonic() - started:.2f} s")
    print(0, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; BOSH's own arguments (job_shutdown, hash_changed, ...) are accepted and ignored."""
    return run_hook(HOOK, argv, lambda path: load_config(path)[0], _main, drain=True, bad_config_exit=0)


if __name__ == "__main__":
    sys.exit(main())
