"""Every experiment that runs in this lab passes its verdict at a small scale (2,000 LRPs), on the
shared real lab, and leaves its report files: parseable JSON/CSV, a PNG, an HTML page that
headless Chromium renders, and benchmark-bbs's Ginkgo block."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cf_mysql_consul_tools.experiments import runner, spec
from cf_mysql_consul_tools.lab import Lab

pytestmark = pytest.mark.integration
SCALE = 0.04  # 50,000 -> 2,000 LRPs; faults at 800 and 1,200 inserted LRPs
# A VM loss costs seconds of failover whatever the scale (serfHealth, then the lock-delay), and each
# populate worker fails about once a second meanwhile: at 2,000 LRPs 10 s already exceed the 5%
# tolerance (a CI run saw 14 s). At 5,000 LRPs the tolerance means 25 s, as the definition intends.
SCALES = {"proxy-vm-loss": 0.1}
GINKGO = re.compile(r"\A• \[MEASUREMENT\]\nmain benchmark test\n.*benchmark_test.go:210\n  data for benchamrks\n"
                    r"(?:.*\n)*  Ran 1 samples:\n(?:  map\[MetricName:\w+\]\n  .+:\n    Fastest Time: \d+\.\d{3}s\n"
                    r"    Slowest Time: \d+\.\d{3}s\n    Average Time: \d+\.\d{3}s ± \d+\.\d{3}s\n){7}-{30}\n\n"
                    r"Ran 1 of 1 Specs in \d+\.\d{3} seconds\n"
                    r"SUCCESS! -- 1 Passed \| 0 Failed \| 0 Pending \| 0 Skipped\n\n"
                    r"Ginkgo ran 1 suite in [\dhms.]+\nTest Suite Passed\n\Z")


def check_files(out: Path) -> None:
    run = json.loads((out / "run.json").read_text())
    assert run["seeded"] > 0 and set(run["metrics"]) >= {"SeedDesireLRP", "RepStartActualLRP", "ConvergenceGathering"}
    for metric in run["metrics"].values():
        assert len(metric["samples"]) == metric["summary"]["count"]
    with (out / "timeline.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= run["seeded"] * 3
    assert {r["outcome"] for r in rows} <= {"ok", "error"}
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["status"] == "PASSED", verdict["summary"]
    assert GINKGO.match((out / "ginkgo.txt").read_text())


@pytest.mark.parametrize("name", spec.names())
def test_experiment_passes_its_verdict(lab: Lab, tmp_path: Path, name: str) -> None:
    definition = spec.load(name)
    result = runner.run(definition, lab=lab, scale=SCALES.get(name, SCALE), out=tmp_path / name)
    assert result.verdict.status == "PASSED", "\n".join(f"{c.name}: {c.detail}" for c in result.verdict.checks)
    assert len([c for c in result.verdict.checks if c.ok]) == len(result.verdict.checks) >= 8
    check_files(result.out)
    faults = json.loads((result.out / "verdict.json").read_text())["faults"]
    assert [f["ok"] for f in faults] == [True] * len(definition.faults) and faults
    if name in ("exp1", "exp3", "hung-master"):
        assert faults[0]["instance"].startswith("mysql/") and faults[1]["instance"] == faults[0]["instance"]
    elif name in ("exp2", "proxy-vm-loss"):
        assert faults[0]["instance"].startswith("proxy/") and faults[1]["instance"] == faults[0]["instance"]
    else:  # exp4, exp5: a rolling deploy of the mysql group, every node in turn
        assert faults[0]["action"] == "rolling_deploy" and faults[0]["detail"] == "updated ['mysql/0', 'mysql/1']"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_html_report_renders_in_headless_chromium(lab: Lab, tmp_path: Path) -> None:
    definition = spec.load("exp2")
    result = runner.run(definition, lab=lab, scale=0.01, out=tmp_path / "run")
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          (result.out / "report.html").as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert 'id="verdict"' in dom and f"{result.verdict.status}:" in dom
    assert 'src="plot.png"' in dom and "rep bulk fetch" in dom and "Ran 1 samples:" in dom
