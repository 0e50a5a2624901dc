"""``docs/properties.md`` is generated from the job specs: it must be current and cover every job."""

from __future__ import annotations

from pathlib import Path

from cf_mysql_consul_tools.release.jobspec import load_job_spec
from cf_mysql_consul_tools.release.propdocs import render_properties_doc

REPO = Path(__file__).resolve().parents[2]


def test_properties_doc_is_current() -> None:
    committed = (REPO / "docs" / "properties.md").read_text()
    assert committed == render_properties_doc(REPO), "docs/properties.md is stale: run ./inv release.docs"


def test_properties_doc_lists_every_property_of_every_job() -> None:
    text = render_properties_doc(REPO)
    for job_dir in sorted(p for p in (REPO / "jobs").iterdir() if (p / "spec").is_file()):
        spec = load_job_spec(job_dir)
        assert f"## {spec.name}\n" in text
        for name in spec.properties:
            assert f"| `{name}` |" in text, f"{spec.name}: {name}"
