"""``bin/drain`` for the proxy job: hand over gracefully, then print the BOSH drain integer.

If this proxy serves traffic: ``POST /v0/drain`` (new clients get an ERR packet, /health turns
503 so the lock job's Consul check fails and the standby takes over), then wait until the open
sessions end, bounded by ``shutdown_delay``. Sessions still open then are severed by the
process on SIGTERM (it counts the delay from the drain's start, so the wait is not doubled).
Stdout carries exactly one integer (0); every message goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time

from cf_mysql_consul.hooks import run_hook, say
from cf_mysql_consul.proxy.client import ApiError, ProxyClient, ProxyEndpoint
from cf_mysql_consul.proxy.config import ProxyConfig, load_config

HOOK = "proxy drain"


def _say(text: str) -> None:
    say(HOOK, text)


def drain(api: ProxyClient, shutdown_delay: float, *, poll_seconds: float = 0.2) -> str:
    """Drain the proxy behind ``api``; return a one-line verdict (never raises ``ApiError``)."""
    try:
        cluster = api.cluster()
    except ApiError as exc:
        return f"proxy API not answering ({exc}): nothing to drain"
    if not cluster.get("trafficEnabled") and not cluster.get("draining"):
        return f"standby (traffic disabled: {cluster.get('message')}): nothing to drain"
    try:
        api.drain()
    except ApiError as exc:
        return f"could not start the drain ({exc}); the process severs sessions on SIGTERM"
    deadline = time.monotonic() + shutdown_delay
    sessions = -1
    while time.monotonic() < deadline:
        try:
            sessions = sum(b["currentSessionCount"] for b in api.backends())
        except ApiError as exc:
            return f"API stopped answering while draining ({exc})"
        if sessions == 0:
            return "drained: no sessions left"
        time.sleep(poll_seconds)
    return (
        f"{sessions} sessions still open after shutdown_delay {shutdown_delay:g} s; they are severed on stop"
    )


def _main(config: ProxyConfig, _args: argparse.Namespace, bosh_args: list[str]) -> int:
    _say(f"called with {' '.join(bosh_args) or 'no arguments'}")
    _say(drain(ProxyClient(ProxyEndpoint.from_config(config)), config.shutdown_delay_seconds))
    print(0, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; BOSH's own arguments (job_shutdown, hash_changed, ...) are accepted and ignored."""
    return run_hook(HOOK, argv, load_config, _main, drain=True, bad_config_exit=0)


if __name__ == "__main__":
    sys.exit(main())
