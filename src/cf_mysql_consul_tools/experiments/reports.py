"""Writing a run's directory: ginkgo.txt, run.json, timeline.csv, plot.png, report.html, verdict.json."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2

from cf_mysql_consul.benchmark_bbs import report as bbs_report
from cf_mysql_consul.benchmark_bbs.config import BenchmarkConfig
from cf_mysql_consul.benchmark_bbs.metrics import Summary
from cf_mysql_consul.benchmark_bbs.workload import Outcome
from cf_mysql_consul_tools.experiments.faults import FaultRecord
from cf_mysql_consul_tools.experiments.plot import Marker, plot
from cf_mysql_consul_tools.experiments.spec import Experiment
from cf_mysql_consul_tools.experiments.verdict import Verdict, seed_column

TEMPLATES = Path(__file__).parent / "templates"


def render_html(spec: Experiment, verdict: Verdict, *, summaries: list[Summary], faults: list[FaultRecord],
                notes: list[str], config: dict[str, Any], ginkgo: str, tolerance: float, plot_name: str | None) -> str:
    """The HTML report (autoescaped)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    metrics = [{**asdict(s), "error_rate": s.error_rate} for s in summaries]
    return env.get_template("report.html.j2").render(
        spec=spec, verdict=verdict, metrics=metrics, faults=faults, notes=notes, config=config, ginkgo=ginkgo,
        tolerance=tolerance, seed=seed_column(spec.name), plot=plot_name)


def write_all(out: Path, spec: Experiment, verdict: Verdict, *, config: BenchmarkConfig, outcome: Outcome,
              summaries: list[Summary], faults: list[FaultRecord], notes: list[str], suite_seconds: float,
              extra: dict[str, Any]) -> dict[str, Path]:
    """Every file of a finished run; returns name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    ginkgo = bbs_report.ginkgo_text(summaries, config.error_tolerance, outcome, suite_seconds)
    files = {"ginkgo": out / "ginkgo.txt"}
    files["ginkgo"].write_text(ginkgo)
    document = bbs_report.run_document(config, outcome, summaries, {
        "experiment": spec.name, "faults": [f.to_json() for f in faults], "notes": notes, **extra})
    files["run"] = bbs_report.write_json(out / "run.json", document)
    files["timeline"] = bbs_report.write_timeline(out / "timeline.csv", outcome.recorder)
    markers = [Marker(f.t, f"{f.action} {f.instance}", f.ok) for f in faults]
    files["plot"] = plot(out / "plot.png", outcome.recorder.snapshot(), markers=markers,
                         title=f"{spec.name}: {verdict.status}", measurement_started=outcome.measurement_started)
    shown = {k: v for k, v in document["config"].items() if k != "extra"}
    files["html"] = out / "report.html"
    files["html"].write_text(render_html(spec, verdict, summaries=summaries, faults=faults, notes=notes,
                                         config=shown, ginkgo=ginkgo, tolerance=config.error_tolerance,
                                         plot_name="plot.png"))
    files["verdict"] = bbs_report.write_json(out / "verdict.json", {**verdict.to_json(), "experiment": spec.name,
                                                                     "faults": [f.to_json() for f in faults],
                                                                     **extra})
    return files
