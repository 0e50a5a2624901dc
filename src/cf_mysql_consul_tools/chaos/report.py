"""A campaign's report: ``chaos.json`` (the data) and ``report.html`` (the same, for people)."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from cf_mysql_consul_tools.chaos.campaign import Campaign

TEMPLATES = Path(__file__).parent / "templates"


def write_report(campaign: Campaign, out: Path) -> dict[str, Path]:
    """Write ``chaos.json`` and ``report.html`` into ``out``; returns name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    data = campaign.to_json()
    files = {"json": out / "chaos.json", "html": out / "report.html"}
    files["json"].write_text(json.dumps(data, indent=2, default=str))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    files["html"].write_text(env.get_template("chaos.html.j2").render(c=data))
    return files
