"""``python -m cf_mysql_consul.consul_lock --config PATH [--check]``: run consul-lock (bpm's entry point).

SIGTERM/SIGINT: step down (traffic off, release, destroy session) and exit. SIGUSR1 (sent by
``bin/drain``): step down handing the proxy over for shutdown, keep running until stopped.
``--check`` only validates the config and prints the safety margins (exit 2 when refused).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from cf_mysql_consul.consul_lock.config import ConfigError, load_config
from cf_mysql_consul.consul_lock.daemon import LockDaemon
from cf_mysql_consul.proxy.events import setup_logging

log = logging.getLogger("cf_mysql_consul.consul_lock")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, validate the config (refusing unsafe timings), run the daemon."""
    parser = argparse.ArgumentParser(prog="cf_mysql_consul.consul_lock", description=__doc__)
    parser.add_argument("--config", required=True, help="rendered config/consul-lock.yml")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    setup_logging(getattr(logging, args.log_level))
    try:
        config, margins = load_config(args.config)
    except ConfigError as exc:
        log.error("invalid config, refusing to start: %s", exc)
        print(f"consul-lock: invalid config, refusing to start: {exc}", file=sys.stderr)
        return 2
    log.info("config ok: key %s, clients find the active proxy as %s, %s", config.key, config.dns_name,
             margins.describe())
    if args.check:
        print(f"consul-lock: config ok; {margins.describe()}")
        return 0
    daemon = LockDaemon(config)

    def on_term(signum: int, frame: FrameType | None) -> None:
        daemon.request_step_down(f"{signal.Signals(signum).name}: process stopping", drain=False)
        daemon.stop.set()
        daemon.wake.set()

    def on_drain(signum: int, frame: FrameType | None) -> None:
        daemon.request_step_down("bin/drain: instance stopping", drain=True)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGUSR1, on_drain)
    daemon.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
