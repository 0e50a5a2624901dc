"""The Ginkgo output reproduces the seed log's blocks byte for byte (fixtures are the seed's own text)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cf_mysql_consul.benchmark_bbs import ginkgo
from cf_mysql_consul.benchmark_bbs.metrics import MEASUREMENT_METRICS, summarize

FIXTURES = Path(__file__).parent / "fixtures"
METRIC = re.compile(r"  map\[MetricName:(\w+)\]\n  (.+):\n    Fastest Time: ([\d.]+)s\n    Slowest Time: ([\d.]+)s\n"
                    r"    Average Time: ([\d.]+)s ± ([\d.]+)s\n")


def parse_seed(text: str) -> tuple[list[ginkgo.Measured], float, float]:
    measured = [ginkgo.Measured(m[1], m[2], *map(float, m.groups()[2:])) for m in METRIC.finditer(text)]
    spec = float(re.search(r"Ran 1 of 1 Specs in ([\d.]+) seconds", text)[1])  # type: ignore[index]
    suite = re.search(r"Ginkgo ran 1 suite in (\d+)m([\d.]+)s", text)
    assert suite is not None
    return measured, spec, int(suite[1]) * 60 + float(suite[2])


@pytest.mark.parametrize("name", ["seed_exp1.txt", "seed_exp2.txt"])
def test_measurement_block_is_the_seeds_byte_for_byte(name: str) -> None:
    seed = (FIXTURES / name).read_text()
    measured, spec, suite = parse_seed(seed)
    assert len(measured) == 7
    ours = ginkgo.measurement_block(measured, spec_seconds=spec, suite_seconds=suite)
    # Experiment 1's log was cut before Ginkgo's last line; everything else is identical.
    expected = seed if seed.endswith("Test Suite Passed\n") else seed + "Test Suite Passed\n"
    assert ours == expected


def test_every_seed_metric_name_is_ours() -> None:
    for name in ("seed_exp1.txt", "seed_exp2.txt"):
        measured, _, _ = parse_seed((FIXTURES / name).read_text())
        assert {m.metric for m in measured} == set(MEASUREMENT_METRICS)
    # The label benchmark-bbs's source (and experiment 2) uses for convergence:
    assert MEASUREMENT_METRICS["ConvergenceGathering"] == "BBS' internal gathering of LRPs"


def test_before_suite_failure_matches_the_seeds_experiment_3() -> None:
    seed = (FIXTURES / "seed_exp3.txt").read_text()
    first = seed.split("------------------------------\n")[0]
    ours = ginkgo.before_suite_failure("Error rate of 0.060 for actuals exceeds tolerance of 0.050",
                                       seconds=592.772, suite_seconds=600)
    pointer = re.compile(r"0xc8[0-9a-f]{8}")
    assert pointer.sub("PTR", ours.split("------------------------------\n")[0]) == pointer.sub("PTR", first)


@pytest.mark.parametrize(("seconds", "text"), [
    (631.388780701, "10m31.388780701s"), (716.614700533, "11m56.614700533s"), (3602, "1h0m2s"),
    (0.25, "250ms"), (1.5, "1.5s"), (0, "0s"), (0.0000015, "1.5µs"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert ginkgo.go_duration(seconds) == text


def test_population_standard_deviation_and_three_decimals() -> None:
    s = summarize("RepStartActualLRP", [1.0, 2.0, 3.0, 4.0], errors=1)
    assert (s.fastest, s.slowest, s.average) == (1.0, 4.0, 2.5)
    assert s.stddev == pytest.approx(1.118, abs=1e-3)  # population, not sample (1.291)
    assert s.error_rate == pytest.approx(0.2)
    block = ginkgo.measurement_block([ginkgo.Measured(s.metric, s.label, s.fastest, s.slowest, s.average, s.stddev)],
                                     spec_seconds=1, suite_seconds=1)
    assert "    Average Time: 2.500s ± 1.118s\n" in block
