"""Side by side: several runs' figures per metric, with the seed's published figures as a column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cf_mysql_consul.benchmark_bbs.metrics import ALL_METRICS
from cf_mysql_consul_tools.experiments.audit import CHECKSUMS_CHECK, OVERLAP_CHECK, REJOIN_CHECK, WRITES_CHECK
from cf_mysql_consul_tools.experiments.verdict import seed_figures


class RunError(ValueError):
    """A path that holds no run of ``experiment.run``; the message names it and what was expected."""


def is_run(path: Path) -> bool:
    """True when ``path`` is a run directory (it has the verdict.json or run.json a run writes)."""
    return (path / "verdict.json").is_file() or (path / "run.json").is_file()


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise RunError(f"{path}: expected a JSON object")
    return doc


def load_run(path: Path) -> dict[str, Any]:
    """A run directory (or its run.json / verdict.json) -> {name, status, metrics, figures}."""
    if not path.exists():
        raise RunError(f"{path}: no such run directory (experiment.run writes one under .experiments/)")
    base = path if path.is_dir() else path.parent
    if not is_run(base):
        raise RunError(f"{base}: not a run directory: it has neither verdict.json nor run.json, which "
                       "experiment.run writes")
    verdict = _read_json(base / "verdict.json")
    run = _read_json(base / "run.json")
    return {"dir": str(base), "experiment": verdict.get("experiment", run.get("experiment", base.name)),
            "status": verdict.get("status", "?"), "summary": verdict.get("summary", ""),
            "metrics": run.get("metrics", {}), "figures": verdict.get("figures", {}),
            "throughput": run.get("throughput_probe", {}),
            "seeding_lrps_per_second": run.get("seeding_lrps_per_second"),
            "ops": run.get("ops", []), "mysqld": run.get("mysqld", {}), "faults": verdict.get("faults", []),
            "checks": {c["name"]: c for c in verdict.get("checks", [])}, "config": run.get("config", {})}


def _per_node(counts: dict[str, int]) -> str:
    return ", ".join(f"{node}: {n}" for node, n in sorted(counts.items())) or "-"


def _check(run: dict[str, Any], name: str, ok_text: str) -> str:
    check = run["checks"].get(name)
    if check is None:
        return "-"
    return ok_text if check["ok"] else f"NO: {check['detail']}"


def _highest_error_rate(run: dict[str, Any]) -> str:
    rates = [(m["summary"]["error_rate"], ALL_METRICS.get(name, name)) for name, m in run["metrics"].items()]
    rate, label = max(rates, default=(0.0, "-"))
    return f"{rate:.4f} ({label})"


def _faults(run: dict[str, Any]) -> str:
    return "; ".join(f"{f['id']}: {'ok' if f['ok'] else 'FAILED'} in {f['seconds']:.0f} s"
                     + ("" if f["ok"] else f" ({f['detail'][:160]})") for f in run["faults"]) or "none"


def ab_rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    """An A/B of one experiment, figure by figure: (what, A, B), for a table or Markdown."""
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("ops files", lambda r: ", ".join(r["ops"]) or "none (as defined)"),
        ("LRPs", lambda r: str(r["config"].get("desired_lrps", "-"))),
        ("verdict", lambda r: r["status"]),
        ("actual-LRP error rate (tolerance)", lambda r: f"{r['figures'].get('actual_lrp_error_rate', 0):.4f} "
                                                       f"({r['config'].get('error_tolerance', 0.05):.3f})"),
        ("highest error rate", _highest_error_rate),
        ("faults (a rolling deploy: its outcome)", _faults),
        ("mysqld starts per node", lambda r: _per_node(r["mysqld"].get("starts", {}))),
        ("start timeouts per node", lambda r: _per_node(r["mysqld"].get("start_timeouts", {}))),
        ("restarted nodes Synced", lambda r: _check(r, REJOIN_CHECK, "yes")),
        ("lost writes", lambda r: _check(r, WRITES_CHECK, "none")),
        ("nodes agree (checksums)", lambda r: _check(r, CHECKSUMS_CHECK, "yes")),
        ("two proxies serving at once", lambda r: "never" if r["checks"].get(OVERLAP_CHECK, {}).get("ok")
         else _check(r, OVERLAP_CHECK, "never")),
        ("run directory", lambda r: r["dir"]),
    ]
    return [(label, fmt(a), fmt(b)) for label, fmt in rows]


def markdown_ab(name: str, a: dict[str, Any], b: dict[str, Any], *, labels: tuple[str, str]) -> str:
    """The A/B as a Markdown table (for the README)."""
    lines = [f"| {name} | {labels[0]} | {labels[1]} |", "|---|---|---|"]
    lines += [f"| {what} | {x} | {y} |" for what, x, y in ab_rows(a, b) if what != "run directory"]
    return "\n".join(lines) + "\n"


def _error_rate(run: dict[str, Any]) -> str:
    """The run's actual-LRP error rate, or ``-`` when its verdict has none (never a made-up 0)."""
    rate = run["figures"].get("actual_lrp_error_rate")
    return "-" if rate is None else f"{rate:.4f}"


def rows(runs: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per metric (avg / max s, error rate), one column per run, then the seed."""
    names = sorted({r["experiment"] for r in runs})
    seeds = seed_figures()
    header = ["metric", *[f"{r['experiment']} ({Path(r['dir']).name})" for r in runs],
              *[f"seed {n}" for n in names if n in seeds]]
    out: list[list[str]] = [["verdict", *[r["status"] for r in runs],
                             *[str(seeds[n].get("outcome", "")) for n in names if n in seeds]]]
    for metric, label in ALL_METRICS.items():
        cells = []
        for r in runs:
            m = r["metrics"].get(metric)
            if m is None:
                cells.append("")
                continue
            s = m["summary"]
            cells.append(f"avg {s['average']:.3f}s max {s['slowest']:.3f}s err {s['error_rate']:.3f}")
        seed_cells = []
        for n in names:
            if n not in seeds:
                continue
            v = (seeds[n].get("metrics") or {}).get(metric)
            seed_cells.append(f"avg {v[2]:.3f}s max {v[1]:.3f}s" if v else "")
        if any(cells) or any(seed_cells):
            out.append([label, *cells, *seed_cells])
    out.append(["actual-LRP error rate",
                *[_error_rate(r) for r in runs],
                *[f"{seeds[n]['actual_error_rate']:.3f}" if "actual_error_rate" in seeds[n] else ""
                  for n in names if n in seeds]])
    out.append(["seeding LRPs/s", *[f"{r['seeding_lrps_per_second'] or 0:.0f}" for r in runs],
                *["" for n in names if n in seeds]])
    return header, out


PER_LRP = ("SeedDesireLRP", "SeedClaimActualLRP", "SeedStartActualLRP", "RepStartActualLRP", "RepClaimActualLRP")
BULK = ("RepBulkFetching", "FetchActualLRPsAndSchedulingInfos", "NsyncBulkerFetching", "ConvergenceGathering")


def _slowest(metrics: dict[str, Any], names: tuple[str, ...]) -> tuple[float, str]:
    found = [(m["summary"]["slowest"], name) for name in names if (m := metrics.get(name)) and m["summary"]["count"]]
    return max(found) if found else (0.0, "")


def markdown_summary(runs: list[dict[str, Any]]) -> str:
    """One Markdown row per run, the seed's published outcome beside it (for the README)."""
    seeds = seed_figures()
    lines = ["| experiment | verdict (seed) | actual-LRP error rate (seed) | slowest per-LRP operation | "
             "slowest bulk read (seed) | seeding LRPs/s: whole run / via proxy / direct |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        seed = seeds.get(r["experiment"], {})
        seed_metrics = seed.get("metrics") or {}
        per_lrp, per_lrp_name = _slowest(r["metrics"], PER_LRP)
        bulk, bulk_name = _slowest(r["metrics"], BULK)
        seed_bulk = max(((v[1], k) for k, v in seed_metrics.items() if k in BULK), default=None)
        seed_rate = seed.get("actual_error_rate")
        if seed_rate is None and seed_metrics:
            seed_rate = 0.0 if "passed" in str(seed.get("outcome")) else None
        probe = r["throughput"] or {}
        lines.append(
            f"| {r['experiment']} | {r['status']} ({seed.get('outcome', '-')}) "
            f"| {_error_rate(r)} "
            f"({'-' if seed_rate is None else f'{seed_rate:.3f}'}) "
            f"| {per_lrp:.2f} s ({ALL_METRICS.get(per_lrp_name, '-')}) "
            f"| {bulk:.1f} s ({ALL_METRICS.get(bulk_name, '-')}) "
            f"({f'{seed_bulk[0]:.1f} s' if seed_bulk else '-'}) "
            f"| {r['seeding_lrps_per_second'] or 0:.0f} / {probe.get('through_proxy', 0):.0f} / "
            f"{probe.get('direct_to_node', 0):.0f} |")
    return "\n".join(lines) + "\n"


def markdown_metrics(runs: list[dict[str, Any]]) -> str:
    """Per metric: average / slowest seconds (and failures) of each run, then the seed's published figures."""
    seeds = seed_figures()
    seeded = [n for n in sorted(seeds) if seeds[n].get("metrics")]
    header = ["metric", *[r["experiment"] for r in runs], *[f"seed {n}" for n in seeded]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for metric, label in ALL_METRICS.items():
        cells = []
        for r in runs:
            m = r["metrics"].get(metric)
            s = m["summary"] if m else None
            cells.append(f"{s['average']:.3f} / {s['slowest']:.2f}" + (f", {s['errors']} failed" if s["errors"] else "")
                         if s else "-")
        seed_cells = [f"{v[2]:.3f} / {v[1]:.2f}" if (v := seeds[n]["metrics"].get(metric)) else "-" for n in seeded]
        lines.append("| " + " | ".join([label, *cells, *seed_cells]) + " |")
    return "\n".join(lines) + "\n"
