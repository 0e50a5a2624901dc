"""``python -m cf_mysql_consul.benchmark_bbs --config FILE [--out DIR]``: the benchmark-bbs errand's program.

Reads benchmark-bbs's JSON config keys, (re)creates the schema when ``reseed_database``, seeds,
measures, prints the Ginkgo output, writes run.json and timeline.csv, and exits 1 when an
error rate exceeds ``error_tolerance`` (2 on a configuration error).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import pymysql

from cf_mysql_consul.benchmark_bbs import report, schema
from cf_mysql_consul.benchmark_bbs.client import Pool
from cf_mysql_consul.benchmark_bbs.config import BenchmarkConfig, ConfigError, load_config, split_address
from cf_mysql_consul.benchmark_bbs.metrics import error_rate_failures
from cf_mysql_consul.benchmark_bbs.resolve import ConsulDnsResolver, FixedResolver, Resolver, SystemResolver
from cf_mysql_consul.benchmark_bbs.workload import Workload


def resolver_for(config: BenchmarkConfig) -> Resolver:
    """``consul_service`` asked from ``consul_dns`` when both are set, through this VM's resolver when
    only the name is (the port is the DSN's), else the configured addresses."""
    if config.consul_service and config.consul_dns:
        return ConsulDnsResolver(config.consul_dns, config.consul_service)
    if config.consul_service:
        return SystemResolver(config.consul_service, split_address(config.database_addresses[0], 3306)[1]
                              if config.database_addresses else 3306)
    return FixedResolver(config.database_addresses)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark once; the exit status is the verdict."""
    parser = argparse.ArgumentParser(prog="python -m cf_mysql_consul.benchmark_bbs", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="benchmark-bbs JSON config")
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for run.json and timeline.csv")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="level of the messages on stderr (the Ginkgo output goes to stdout)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s benchmark-bbs %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"benchmark-bbs: bad configuration: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    resolver = resolver_for(config)
    logging.getLogger("cf_mysql_consul.benchmark_bbs").info("new connections: %s", resolver.describe())
    if config.reseed_database:
        try:
            host, port = resolver.candidates()[0]
            with pymysql.connect(host=host, port=port, user=config.database_username,
                                 password=config.database_password, autocommit=True, connect_timeout=10) as conn:
                schema.recreate(conn, config.database_name)
        except (OSError, pymysql.MySQLError) as exc:  # ResolveError is an OSError
            print(f"benchmark-bbs: cannot recreate the database through {resolver.describe()}: {exc}",
                  file=sys.stderr)
            return 1
    pool = Pool(resolver, user=config.database_username, password=config.database_password,
                database=config.database_name, max_open=config.max_open_connections, attempts=config.attempts,
                retry_delay=config.retry_delay_seconds, connect_timeout=config.connect_timeout_seconds,
                read_timeout=config.read_timeout_seconds)
    workload = Workload(config, pool)
    outcome = workload.run()
    pool.close()
    summaries = workload.recorder.summaries()
    print(report.ginkgo_text(summaries, config.error_tolerance, outcome, time.monotonic() - started), end="")
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / "run.json", report.run_document(config, outcome, summaries,
                                                                 {"resolver": resolver.describe()}))
    report.write_timeline(args.out / "timeline.csv", outcome.recorder)
    return 1 if error_rate_failures(summaries, config.error_tolerance) else 0


if __name__ == "__main__":
    sys.exit(main())
