"""``docs/properties.md`` is generated from the job specs: it must be current and cover every job."""

from __future__ import annotations

from pathlib import Path

from cf_mysql_consul_tools.bosh.jobspec import load_job_spec
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


def test_every_relative_link_of_the_readme_and_docs_exists() -> None:
    """The README and docs point only into the repository, and every file or section they point at exists."""
    import re

    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text()
        assert "shared/DESIGN.md" not in text and "steering repo" not in text, page.name
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            assert not target.startswith(("http://", "https://")), f"{page.name} links outside: {target}"
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), f"{page.name}: {target} does not exist"
            if anchor and resolved.suffix == ".md":
                headings = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                            for h in re.findall(r"^#+ (.+)$", resolved.read_text(), flags=re.M)}
                assert anchor in headings, f"{page.name}: no section #{anchor} in {resolved.name}"
