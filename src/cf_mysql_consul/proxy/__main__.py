"""``python -m cf_mysql_consul.proxy --config PATH``: run the proxy (bpm's entry point)."""

from __future__ import annotations

import argparse
import logging
import sys

import uvloop

from cf_mysql_consul.proxy.config import ConfigError, load_config
from cf_mysql_consul.proxy.daemon import run
from cf_mysql_consul.proxy.events import setup_logging


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the config, run the daemon on uvloop."""
    parser = argparse.ArgumentParser(prog="cf_mysql_consul.proxy", description=__doc__)
    parser.add_argument("--config", required=True, help="rendered config/proxy.yml")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    setup_logging(getattr(logging, args.log_level))
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        logging.getLogger("cf_mysql_consul.proxy").error("invalid config: %s", exc)
        return 2
    try:
        return uvloop.run(run(config))
    except OSError as exc:
        logging.getLogger("cf_mysql_consul.proxy").error("cannot start: %s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
