"""galera-drain's /metrics: what its hooks record in the event log, served by its one BPM process.

The metrics process runs for real (``python -m cf_mysql_consul.galera_drain.metrics``) on this
suite's addresses (127.0.52.x) with the job's rendered config; the events are written the way
the hooks write them (``events.record``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest

from cf_mysql_consul.galera_drain import events
from cf_mysql_consul.galera_drain.config import JobConfig, load_config
from cf_mysql_consul.galera_drain.metrics import EventLogCollector
from cf_mysql_consul_tools.lab.waiting import wait_until
from tests.galera_drain.test_templates import render

ADDRESS = "127.0.52.240"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """The rendered config, with the event log under tmp_path and the metrics on this suite's address."""
    path = render(tmp_path / "job", metrics_port=19190, log_level="debug") / "config" / "galera-drain.json"
    raw = json.loads(path.read_text())
    assert raw["metrics"] == {"address": "127.0.10.2", "port": 19190} and raw["log_level"] == "debug"
    raw.update(events_path=str(tmp_path / "store" / "events.jsonl"), metrics={"address": ADDRESS, "port": 19190})
    path.write_text(json.dumps(raw))
    return path


def record_a_deploy(config: JobConfig) -> None:
    events.record(config, events.SWITCHOVER, "asked proxy/0", result="requested", to="mysql/0")
    events.record(config, events.DRAIN, "cluster healthy and load quiet", outcome="quiet", seconds=12.5)
    events.record(config, events.POST_START, "Synced", outcome="rejoined", seconds=40.0)
    events.record(config, events.DRAIN, "max_wait passed", outcome="max_wait", seconds=600.0)
    with open(config.events_path, "a") as log:
        log.write('{"event": "drain", "outcome": "quiet"}\n{"torn line\n')  # malformed: skipped, not fatal


def scrape(config: JobConfig) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(EventLogCollector(config.events_path))
    return parse(generate_latest(registry).decode())


def parse(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_every_series_exists_at_zero_before_any_event(config_path: Path) -> None:
    samples = scrape(load_config(config_path))
    assert samples['galera_drain_drain_seconds_count{outcome="quiet"}'] == 0
    assert samples['galera_drain_drain_seconds_count{outcome="failed"}'] == 0
    assert samples['galera_drain_switchovers_total{result="requested"}'] == 0
    assert samples['galera_drain_post_start_seconds_count{outcome="timed_out"}'] == 0


def test_the_hooks_events_become_counts_and_durations(config_path: Path) -> None:
    config = load_config(config_path)
    record_a_deploy(config)
    samples = scrape(config)
    assert samples['galera_drain_drain_seconds_count{outcome="quiet"}'] == 1
    assert samples['galera_drain_drain_seconds_sum{outcome="quiet"}'] == 12.5
    assert samples['galera_drain_drain_seconds_bucket{le="15.0",outcome="quiet"}'] == 1
    assert samples['galera_drain_drain_seconds_bucket{le="300.0",outcome="max_wait"}'] == 0
    assert samples['galera_drain_drain_seconds_count{outcome="max_wait"}'] == 1
    assert samples['galera_drain_switchovers_total{result="requested"}'] == 1
    assert samples['galera_drain_post_start_seconds_sum{outcome="rejoined"}'] == 40.0
    assert scrape(config) == samples  # counted from the log: scraping again counts nothing twice


def test_the_process_serves_metrics_until_sigterm(config_path: Path) -> None:
    config = load_config(config_path)
    record_a_deploy(config)
    proc = subprocess.Popen([sys.executable, "-m", "cf_mysql_consul.galera_drain.metrics", "--config",
                             str(config_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://{ADDRESS}:19190/metrics"
        text = wait_until(lambda: requests.get(url, timeout=1).text, timeout=20, what="galera-drain's /metrics")
        assert parse(text)['galera_drain_drain_seconds_count{outcome="quiet"}'] == 1
        events.record(config, events.DRAIN, "quiet again", outcome="quiet", seconds=11.0)
        assert parse(requests.get(url, timeout=1).text)['galera_drain_drain_seconds_count{outcome="quiet"}'] == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert f"serving /metrics on {ADDRESS}:19190" in out and "skipping a malformed event" in out


def test_a_bad_log_level_is_refused_naming_the_property(config_path: Path) -> None:
    raw = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**raw, "log_level": "loud"}))
    proc = subprocess.run([sys.executable, "-m", "cf_mysql_consul.galera_drain.metrics", "--config",
                           str(config_path)], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2
    assert "property 'galera_drain.log_level' must be debug, info, warning or error" in proc.stderr
