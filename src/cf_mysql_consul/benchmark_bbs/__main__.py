"""``python -m cf_mysql_consul.benchmark_bbs --config FILE [--out DIR]``: the benchmark-bbs errand's program.

Reads benchmark-bbs's JSON config keys, (re)creates the schema when ``reseed_database``, seeds,
measures, prints the Ginkgo output, writes run.json and timeline.csv, and exits 1 when an
error rate exceeds ``error_tolerance`` (2 on a configuration error).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pymysql

from cf_mysql_consul.benchmark_bbs import report, schema
from cf_mysql_consul.benchmark_bbs.client import Pool
from cf_mysql_consul.benchmark_bbs.config import BenchmarkConfig, ConfigError, from_mapping, split_address
from cf_mysql_consul.benchmark_bbs.metrics import error_rate_failures
from cf_mysql_consul.benchmark_bbs.resolve import ConsulDnsResolver, FixedResolver, Resolver
from cf_mysql_consul.benchmark_bbs.workload import Workload


def resolver_for(config: BenchmarkConfig) -> Resolver:
    """Consul DNS when ``consul_dns`` is set, else the configured addresses."""
    if config.consul_dns:
        return ConsulDnsResolver(config.consul_dns, config.consul_service)
    return FixedResolver(config.database_addresses)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark once; the exit status is the verdict."""
    parser = argparse.ArgumentParser(prog="python -m cf_mysql_consul.benchmark_bbs", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="benchmark-bbs JSON config")
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for run.json and timeline.csv")
    args = parser.parse_args(argv)
    try:
        config = from_mapping(json.loads(args.config.read_text()))
    except (ConfigError, OSError, json.JSONDecodeError) as exc:
        print(f"benchmark-bbs: bad configuration: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    resolver = resolver_for(config)
    if config.reseed_database:
        host, port = resolver.candidates()[0] if config.consul_dns else split_address(config.database_addresses[0],
                                                                                      3306)
        with pymysql.connect(host=host, port=port, user=config.database_username, password=config.database_password,
                             autocommit=True, connect_timeout=10) as conn:
            schema.recreate(conn, config.database_name)
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
