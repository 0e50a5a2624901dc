"""``bin/post-start`` for the proxy job: wait (bounded) until the proxy's API answers."""

from __future__ import annotations

import argparse
import sys
import time

from cf_mysql_consul.hooks import run_hook
from cf_mysql_consul.proxy.client import ApiError, ProxyClient, ProxyEndpoint
from cf_mysql_consul.proxy.config import ProxyConfig, load_config


def wait_for_api(api: ProxyClient, timeout: float, *, poll_seconds: float = 0.5) -> tuple[bool, str]:
    """Poll ``/live`` and ``GET /v0/cluster`` until both answer or ``timeout``; return (ok, verdict)."""
    deadline = time.monotonic() + timeout
    last = "not polled"
    next_note = time.monotonic() + 5
    while True:
        if api.live():
            try:
                cluster = api.cluster()
                return True, (
                    f"API answers: traffic {'enabled' if cluster['trafficEnabled'] else 'disabled'}, "
                    f"active backend {(cluster['activeBackend'] or {}).get('name')}: {cluster['reason']}"
                )
            except ApiError as exc:
                last = str(exc)
        else:
            last = f"{api.endpoint.health_url}/live does not answer"
        if time.monotonic() >= deadline:
            return False, last
        if time.monotonic() >= next_note:
            print(f"proxy post-start: still waiting: {last}", file=sys.stderr, flush=True)
            next_note += 5
        time.sleep(poll_seconds)


def _main(config: ProxyConfig, args: argparse.Namespace, _bosh_args: list[str]) -> int:
    ok, verdict = wait_for_api(ProxyClient(ProxyEndpoint.from_config(config)), args.timeout)
    if ok:
        print(f"proxy post-start: {verdict}")
        return 0
    print(
        f"proxy post-start: API did not answer within {args.timeout:g} s ({verdict}). Check "
        "/var/vcap/sys/log/proxy/proxy.stderr.log and `bpm list`.",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    """Exit 0 once the API answers; 1 with advice after ``--timeout`` seconds."""
    return run_hook("proxy post-start", argv, load_config, _main,
                    options=[("--timeout", {"type": float, "default": 60.0})])


if __name__ == "__main__":
    sys.exit(main())
