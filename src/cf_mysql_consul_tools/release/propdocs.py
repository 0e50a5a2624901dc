"""``docs/properties.md``: every job's properties, generated from the job specs.

``./inv release.docs`` rewrites the file; a test fails when the committed file differs from
what :func:`render_properties_doc` produces, so the table cannot drift from the specs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul_tools.bosh.jobspec import JobSpec, load_job_spec
from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.release.property_checks import PLAUSIBLE, Plausible

DOC_PATH = REPO_ROOT / "docs" / "properties.md"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(decl: dict[str, Any]) -> str:
    if decl["default"] is None:
        return "*(required)*"
    return "`" + json.dumps(decl["default"]).replace("|", "\\|") + "`"


def _plausible(rule: Plausible | None) -> str:
    if rule is None:
        return ""
    unit = f" {rule.unit}" if rule.unit else ""
    return " " + _cell(f"*Plausible: {rule.low:g}-{rule.high:g}{unit} ({rule.why}); `release.lint` notes a value "
                       "outside.*")


def _links(spec: JobSpec) -> str:
    parts = [f"provides `{p['name']}` ({p['type']}: {', '.join(p['properties']) or 'no properties'})"
             for p in spec.provides]
    parts += [f"consumes `{c['name']}` ({c['type']}{', optional' if c['optional'] else ''})" for c in spec.consumes]
    return "; ".join(parts)


def render_properties_doc(release_dir: Path = REPO_ROOT) -> str:
    """The Markdown for every job under ``release_dir/jobs`` (sorted by job, then property)."""
    lines = ["# Job properties", "",
             "Generated from the job specs by `./inv release.docs`; do not edit by hand (a test compares).",
             "*(required)* means the spec has no default: the manifest must set it. Every value is checked by the",
             "job's own config check when it starts, and by `./inv release.lint` before a deploy.", ""]
    jobs_dir = release_dir / "jobs"
    specs = [load_job_spec(d) for d in sorted(jobs_dir.iterdir()) if (d / "spec").is_file()]
    for spec in specs:
        lines += [f"## {spec.name}", ""]
        description = spec_description(spec.path)
        if description:
            lines += [_cell(description), ""]
        links = _links(spec)
        if links:
            lines += [f"Links: {links}.", ""]
        if not spec.properties:
            lines += ["No properties.", ""]
            continue
        lines += ["| property | default | description |", "|---|---|---|"]
        for name in sorted(spec.properties):
            decl = spec.properties[name]
            plausible = _plausible(PLAUSIBLE.get(spec.name, {}).get(name))
            lines.append(f"| `{name}` | {_default(decl)} | {_cell(decl['description'])}{plausible} |")
        lines.append("")
    return "\n".join(lines)


def spec_description(job_dir: Path) -> str:
    """The spec's top-level ``description`` (the foundation's loader does not keep it)."""
    doc = yaml.safe_load((job_dir / "spec").read_text()) or {}
    return str(doc.get("description") or "")


def write_properties_doc(release_dir: Path = REPO_ROOT, path: Path | None = None) -> Path:
    """Regenerate ``docs/properties.md``; returns its path."""
    path = path or release_dir / "docs" / "properties.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_properties_doc(release_dir))
    return path
