"""The dashboard page at ``/``: server-rendered, refreshes itself, no JavaScript needed."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .8em}.up{color:#070}.down{color:#b00}.active{font-weight:bold}"""


def render(cluster: dict[str, Any], backends: list[dict[str, Any]]) -> str:
    """Return the HTML page for the ``/v0/cluster`` and ``/v0/backends`` documents."""
    active = cluster["activeBackend"]["name"] if cluster["activeBackend"] else "none"
    rows = []
    for b in backends:
        state = "up" if b["healthy"] else "down"
        rows.append(
            f'<tr class="backend{" active" if b["active"] else ""}" data-name="{escape(b["name"])}">'
            f"<td>{escape(b['name'])}</td><td>{escape(b['host'])}:{b['port']}</td>"
            f'<td class="{state}">{state}</td><td>{"active" if b["active"] else ""}</td>'
            f'<td class="sessions">{b["currentSessionCount"]}</td><td>{escape(b["healthDetail"])}</td></tr>'
        )
    traffic = "enabled" if cluster["trafficEnabled"] else "disabled"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>{escape(cluster["instance"])} - cf-mysql-consul proxy</title><style>{_STYLE}</style></head>
<body><h1>{escape(cluster["instance"])}</h1>
<p id="traffic">Traffic: <b>{traffic}</b> - {escape(cluster["message"])}</p>
<p id="active">Active backend: <b>{escape(active)}</b> ({escape(cluster["reason"])})</p>
<p>Last updated: {escape(cluster["lastUpdated"])}</p>
<table id="backends"><tr><th>Backend</th><th>Address</th><th>Health</th><th>Role</th><th>Sessions</th>
<th>Detail</th></tr>
{"".join(rows)}
</table></body></html>
"""
