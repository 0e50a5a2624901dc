"""The run's plot: every fault's label stays readable beside the legends."""

from __future__ import annotations

import matplotlib.pyplot as plt

from cf_mysql_consul.benchmark_bbs.metrics import ALL_METRICS, Sample
from cf_mysql_consul_tools.experiments.plot import Marker, figure


def test_no_legend_covers_a_fault_label_even_the_first_one_at_the_top_left() -> None:
    samples = [Sample(t=t / 10, phase="seeding", metric=m, latency=0.01 * (1 + t % 7), ok=True)
               for t in range(600) for m in list(ALL_METRICS)[t % 3::3]]
    samples += [Sample(t=5.0 + t, phase="seeding", metric="SeedDesireLRP", latency=0.1, ok=False,
                       error_kind=kind) for t in range(5) for kind in ("1213 deadlock", "connection")]
    markers = [Marker(0.5, "kill-master: kill mysql/0 mysql.mariadbd"), Marker(30.0, "restart-master: start")]
    fig = figure(samples, markers=markers, title="t", measurement_started=40.0)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        labels = [t.get_window_extent(renderer) for ax in fig.axes for t in ax.texts if "master" in t.get_text()]
        legends = [leg.get_window_extent(renderer) for ax in fig.axes if (leg := ax.get_legend()) is not None]
        assert len(labels) == 2 and len(legends) == 2
        assert not any(label.overlaps(legend) for label in labels for legend in legends)
        page = fig.bbox
        assert all(page.x0 <= b.x0 and b.x1 <= page.x1 for b in legends), "a legend falls off the picture"
    finally:
        plt.close(fig)
