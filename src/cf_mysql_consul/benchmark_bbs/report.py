"""A run's machine-readable outputs: ``run.json`` (every metric's samples and summary) and
``timeline.csv`` (every operation: time, operation, latency, outcome, error kind)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cf_mysql_consul.benchmark_bbs import ginkgo
from cf_mysql_consul.benchmark_bbs.config import BenchmarkConfig
from cf_mysql_consul.benchmark_bbs.metrics import (
    ALL_METRICS,
    MEASUREMENT_METRICS,
    Recorder,
    Summary,
    measurement_failures,
    seeding_failures,
)
from cf_mysql_consul.benchmark_bbs.workload import Outcome

TIMELINE_COLUMNS = ("t", "phase", "operation", "metric", "latency_s", "outcome", "error_kind", "attempts", "detail")


def measured(summaries: list[Summary]) -> list[ginkgo.Measured]:
    """The measurement metrics that have successful samples, for the Ginkgo block."""
    return [ginkgo.Measured(s.metric, s.label, s.fastest, s.slowest, s.average, s.stddev)
            for s in summaries if s.metric in MEASUREMENT_METRICS and s.count]


def ginkgo_text(summaries: list[Summary], tolerance: float, outcome: Outcome, suite_seconds: float) -> str:
    """What benchmark-bbs would have printed for this run."""
    spec = outcome.seeding_seconds + outcome.measurement_seconds
    seeding = seeding_failures(summaries, tolerance)
    if seeding:
        return ginkgo.before_suite_failure(seeding[0], seconds=outcome.seeding_seconds, suite_seconds=suite_seconds)
    failures = measurement_failures(summaries, tolerance)
    if failures:
        return ginkgo.measurement_failure(failures, spec_seconds=spec, suite_seconds=suite_seconds)
    return ginkgo.measurement_block(measured(summaries), spec_seconds=spec, suite_seconds=suite_seconds)


def run_document(config: BenchmarkConfig, outcome: Outcome, summaries: list[Summary],
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``run.json`` document."""
    samples = outcome.recorder.snapshot()
    metrics: dict[str, Any] = {}
    for s in summaries:
        mine = [x for x in samples if x.metric == s.metric]
        metrics[s.metric] = {
            "label": s.label, "summary": {**asdict(s), "error_rate": s.error_rate},
            "samples": [round(x.latency, 6) for x in mine if x.ok],
            "error_kinds": dict(Counter(x.error_kind for x in mine if not x.ok)),
        }
    config_doc = {k: v for k, v in asdict(config).items() if k not in ("database_password",)}
    return {
        "config": config_doc, "started": outcome.recorder.started, "seeded": outcome.seeded,
        "per_cell": outcome.per_cell, "seeding_seconds": outcome.seeding_seconds,
        "measurement_seconds": outcome.measurement_seconds, "measurement_started": outcome.measurement_started,
        "metrics": metrics, **(extra or {}),
    }


def write_json(path: Path, document: dict[str, Any]) -> Path:
    """Write a JSON document (sorted, indented)."""
    path.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    return path


def write_timeline(path: Path, recorder: Recorder) -> Path:
    """One CSV row per operation, in start order."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TIMELINE_COLUMNS)
        for s in sorted(recorder.snapshot(), key=lambda x: x.t):
            writer.writerow((f"{s.t:.6f}", s.phase, ALL_METRICS.get(s.metric, s.metric), s.metric,
                             f"{s.latency:.6f}", "ok" if s.ok else "error", s.error_kind, s.attempts, s.detail))
    return path
