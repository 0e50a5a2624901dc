"""The verdict of one run: a pure function of what was measured and audited.

PASSED when every check holds: benchmark-bbs's error rates within ``error_tolerance``, every
fault carried out (a restart counts once the instance is healthy again), the optional limits
of the definition (slowest operation, actual-LRP error rate), and the audits (writes, checksums,
rejoin, no overlap); FAILED otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul.benchmark_bbs.metrics import Summary, actual_lrp_error_rate, error_rate_failures
from cf_mysql_consul_tools.experiments.audit import Check
from cf_mysql_consul_tools.experiments.faults import FaultRecord
from cf_mysql_consul_tools.experiments.spec import Expect

SEED_FIGURES = Path(__file__).parent / "seed_figures.yml"
FAULTS_CHECK = "faults carried out"


@dataclass
class Verdict:
    """PASSED / FAILED, one summary line, and every check."""

    status: str
    summary: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True only for PASSED."""
        return self.status == "PASSED"

    def to_json(self) -> dict[str, Any]:
        """The ``verdict.json`` document."""
        return {"status": self.status, "passed": self.passed, "summary": self.summary,
                "checks": [asdict(c) for c in self.checks], "figures": self.figures}


def decide(summaries: list[Summary], tolerance: float, faults: list[FaultRecord], audits: list[Check],
           expect: Expect, *, planned_faults: int) -> Verdict:
    """Combine every check into the verdict (no I/O)."""
    checks: list[Check] = []
    failures = error_rate_failures(summaries, tolerance)
    worst = max(summaries, key=lambda s: s.error_rate, default=None)
    checks.append(Check(f"error rates within tolerance {tolerance:.3f}", not failures,
                        "; ".join(failures) or (f"highest: {worst.label} {worst.error_rate:.3f}" if worst else "none"),
                        {s.metric: s.error_rate for s in summaries}))
    actual_rate = actual_lrp_error_rate(summaries)
    limit = expect.max_actual_error_rate
    checks.append(Check("actual-LRP error rate", limit is None or actual_rate <= limit,
                        f"{actual_rate:.4f}" + (f" (limit {limit:.4f})" if limit is not None else ""),
                        {"actual_lrp_error_rate": actual_rate}))
    slowest = max(summaries, key=lambda s: s.slowest, default=None)
    too_slow = [s for s in summaries if expect.max_op_seconds is not None and s.slowest > expect.max_op_seconds]
    checks.append(Check("slowest operation", not too_slow,
                        (f"{slowest.label}: {slowest.slowest:.3f}s" if slowest else "none")
                        + (f" (limit {expect.max_op_seconds:g}s)" if expect.max_op_seconds is not None else ""),
                        {s.metric: s.slowest for s in summaries}))
    failed = [f for f in faults if not f.ok]
    late = [f.id for f in faults if f.late]
    done = f"{len(faults)} of {planned_faults} done" + (f" ({', '.join(late)} late)" if late else "")
    checks.append(Check(FAULTS_CHECK, not failed and len(faults) == planned_faults,
                        "; ".join(f"{f.id}: {f.detail}" for f in failed) or done, {}))
    checks.extend(audits)
    bad = [c for c in checks if not c.ok]
    figures = {"actual_lrp_error_rate": actual_rate, "slowest": slowest.slowest if slowest else 0.0,
               "slowest_metric": slowest.metric if slowest else ""}
    if bad:
        return Verdict("FAILED", "; ".join(f"{c.name}: {c.detail}" for c in bad)[:600], checks, figures)
    return Verdict("PASSED", f"every check holds (actual-LRP error rate {actual_rate:.4f}, slowest "
                             f"{figures['slowest']:.3f}s)", checks, figures)


def seed_figures() -> dict[str, Any]:
    """The seed's published results, by experiment name."""
    data: dict[str, Any] = yaml.safe_load(SEED_FIGURES.read_text())
    return data


def seed_column(name: str) -> dict[str, str]:
    """metric -> "avg X s, max Y s" of the seed's run of experiment ``name`` (empty when none)."""
    entry = seed_figures().get(name) or {}
    return {m: f"avg {v[2]:.3f}s, max {v[1]:.3f}s" for m, v in (entry.get("metrics") or {}).items()}
