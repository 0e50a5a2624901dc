"""The run's picture: latency of every operation over time (log scale, per metric) above the
errors per second (per error kind), with the phases shaded and the faults marked.

The legends stand to the right of the plots, outside them: inside, the first fault's label
(a fault early in the run, at the top left) was hidden behind the metrics' legend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from cf_mysql_consul.benchmark_bbs.metrics import ALL_METRICS, Sample


@dataclass(frozen=True, slots=True)
class Marker:
    """A vertical line: a fault at ``t`` seconds since the run started."""

    t: float
    label: str
    ok: bool = True


def plot(path: Path, samples: list[Sample], *, markers: Iterable[Marker] = (), title: str = "",
         measurement_started: float | None = None) -> Path:
    """Write the PNG and return its path."""
    fig = figure(samples, markers=markers, title=title, measurement_started=measurement_started)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def figure(samples: list[Sample], *, markers: Iterable[Marker] = (), title: str = "",
           measurement_started: float | None = None) -> Figure:
    """The figure ``plot`` writes (the caller closes it)."""
    markers = list(markers)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    by_metric: dict[str, tuple[list[float], list[float]]] = {}
    for s in samples:
        if s.ok:
            xs, ys = by_metric.setdefault(s.metric, ([], []))
            xs.append(s.t)
            ys.append(max(s.latency, 1e-4))
    for metric in ALL_METRICS:
        if metric in by_metric:
            xs, ys = by_metric[metric]
            top.scatter(xs, ys, s=3, alpha=0.5, label=ALL_METRICS[metric])
    top.set_yscale("log")
    top.set_ylabel("latency (s)")
    top.grid(True, which="both", alpha=0.2)
    errors = [s for s in samples if not s.ok]
    kinds = sorted({s.error_kind for s in errors})
    end = max((s.t + s.latency for s in samples), default=1.0)
    buckets = range(int(end) + 1)
    bottom_stack = [0] * len(buckets)
    for kind in kinds:
        counts = Counter(int(s.t) for s in errors if s.error_kind == kind)
        heights = [counts.get(b, 0) for b in buckets]
        bottom.bar(list(buckets), heights, width=1.0, bottom=bottom_stack, label=kind, align="edge")
        bottom_stack = [a + b for a, b in zip(bottom_stack, heights, strict=True)]
    bottom.set_ylabel("errors / s")
    bottom.set_xlabel("seconds since the run started")
    for ax in (top, bottom):
        if measurement_started is not None:
            ax.axvspan(measurement_started, end, color="grey", alpha=0.08)
        for m in markers:
            ax.axvline(m.t, color="red" if not m.ok else "black", linestyle="--", linewidth=1)
    for m in markers:
        top.annotate(m.label, (m.t, 1.0), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                     fontsize=8, bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
                                       "alpha": 0.7})
    if measurement_started is not None:
        top.annotate("measurement", (measurement_started, 0.0), xycoords=("data", "axes fraction"), fontsize=8,
                     va="bottom")
    if by_metric:
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7, markerscale=3)
    if kinds:
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7)
    top.set_title(title)
    fig.tight_layout()
    return fig
