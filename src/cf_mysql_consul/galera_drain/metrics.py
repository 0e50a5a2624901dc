"""``python -m cf_mysql_consul.galera_drain.metrics --config PATH``: galera-drain's ``/metrics``, its BPM process.

galera-drain's work happens in BOSH's hooks, which exit when done. They record each finished
step in the job's event log (:mod:`cf_mysql_consul.galera_drain.events`), and this process turns
the whole log into Prometheus metrics at every scrape. Counting from the log rather than from
memory means that a restart of this process (every deploy of the node stops it) loses nothing
and counts nothing twice; the log grows by a few lines per deploy. node_exporter's textfile
collector could expose the same without a process of ours, but it needs node_exporter on the
MySQL VMs, which a cf-mysql or pxc deployment does not have.

- ``galera_drain_drain_seconds{outcome}``: histogram of drains, from BOSH's first drain call to
  the verdict, by how they ended (``quiet``, ``steady_load``, ``max_wait``, ``failed``...).
- ``galera_drain_switchovers_total{result}``: planned switchovers asked of the active proxy.
- ``galera_drain_post_start_seconds{outcome}``: histogram of post-start's wait until the node was
  Synced again (``rejoined``) or it gave up (``timed_out``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from cf_mysql_consul.galera_drain import events
from cf_mysql_consul.galera_drain.config import ConfigError, load_config
from cf_mysql_consul.galera_drain.decide import Outcome
from cf_mysql_consul.proxy.events import read_events

log = logging.getLogger("cf_mysql_consul.galera_drain.metrics")
disable_created_metrics()  # type: ignore[no-untyped-call]  # rebuilt from the log at each scrape, a *_created series would say "now"
# Seconds: a quiet drain takes quiet_seconds (10), a loaded one up to max_wait_seconds (600); an SST up to an hour.
BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0)


class EventLogCollector(Collector):
    """Builds every metric afresh from the event log at each scrape."""

    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Iterator[Metric]:
        """The metrics of every event recorded so far (every label value present, at zero when unseen)."""
        registry = CollectorRegistry(auto_describe=True)
        drains = Histogram("galera_drain_drain_seconds", "Drains of this node, from BOSH's first drain call to "
                           "the verdict, by how they ended.", ["outcome"], buckets=BUCKETS, registry=registry)
        switchovers = Counter("galera_drain_switchovers", "Planned switchovers asked of the active proxy before "
                              "this node stopped.", ["result"], registry=registry)
        post_starts = Histogram("galera_drain_post_start_seconds", "post-start's wait until this node was Synced "
                                "again (rejoined) or it gave up (timed_out).", ["outcome"], buckets=BUCKETS,
                                registry=registry)
        for outcome in Outcome:
            drains.labels(outcome.value)
        for result in events.SWITCHOVER_RESULTS:
            switchovers.labels(result)
        for result in events.POST_START_OUTCOMES:
            post_starts.labels(result)
        for event in read_events(self.path):
            try:
                kind = event.get("event")
                if kind == events.DRAIN:
                    drains.labels(str(event["outcome"])).observe(float(event["seconds"]))
                elif kind == events.SWITCHOVER:
                    switchovers.labels(str(event["result"])).inc()
                elif kind == events.POST_START:
                    post_starts.labels(str(event["outcome"])).observe(float(event["seconds"]))
            except (KeyError, TypeError, ValueError):
                log.warning("skipping a malformed event in %s: %r", self.path, event)
        yield from registry.collect()


def main(argv: list[str] | None = None) -> int:
    """Serve ``/metrics`` on the configured address and port until SIGTERM."""
    parser = argparse.ArgumentParser(prog="cf_mysql_consul.galera_drain.metrics", description=__doc__)
    parser.add_argument("--config", required=True, help="rendered config/galera-drain.json")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"galera-drain metrics: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level.upper(), stream=sys.stdout,
                        format="%(asctime)s galera-drain metrics %(levelname)s: %(message)s")
    registry = CollectorRegistry()
    registry.register(EventLogCollector(config.events_path))
    try:
        server, _thread = start_http_server(config.metrics_port, addr=config.metrics_address, registry=registry)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", config.metrics_address, config.metrics_port, exc)
        return 1
    log.info("serving /metrics on %s:%s from %s", config.metrics_address, config.metrics_port, config.events_path)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
