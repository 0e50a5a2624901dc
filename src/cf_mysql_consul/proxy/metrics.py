"""Prometheus text exposition of the proxy's counters and gauges (format 0.0.4)."""

from __future__ import annotations

from cf_mysql_consul.proxy.controller import Controller

PREFIX = "cf_mysql_proxy"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(controller: Controller) -> str:
    """Return the metrics page for ``controller`` (its relay and monitor included)."""
    relay = controller.relay
    stats = relay.stats
    view = controller.view()
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {PREFIX}_{name} {help_text}")
        lines.append(f"# TYPE {PREFIX}_{name} {kind}")
        for labels, value in samples:
            lines.append(f"{PREFIX}_{name}{labels} {value:g}")

    metric("connections_open", "gauge", "Client sessions currently relayed.", [("", relay.open)])
    metric("connections_total", "counter", "Client sessions admitted and relayed.", [("", stats.accepted)])
    metric(
        "connections_refused_total",
        "counter",
        "Clients answered with an ERR packet instead of relayed.",
        [
            ('{reason="inactive"}', stats.refused_inactive),
            ('{reason="max_connections"}', stats.refused_full),
            ('{reason="backend_unreachable"}', stats.backend_connect_failures),
        ],
    )
    metric(
        "connections_severed_total",
        "counter",
        "Sessions cut on a switch, traffic off or shutdown.",
        [("", stats.severed)],
    )
    metric(
        "bytes_total",
        "counter",
        "Bytes relayed, by direction.",
        [
            ('{direction="client_to_backend"}', stats.bytes_from_clients),
            ('{direction="backend_to_client"}', stats.bytes_from_backends),
        ],
    )
    health = {h.name: h.healthy for h in controller.health_snapshot()}
    backend_labels = [
        (b, f'{{backend="{_escape(b.name)}",host="{b.host}",port="{b.port}"}}')
        for b in controller.config.backends
    ]
    metric(
        "backend_healthy",
        "gauge",
        "1 when the backend passes its health check (rise/fall applied).",
        [(labels, 1.0 if health.get(b.name) else 0.0) for b, labels in backend_labels],
    )
    metric(
        "backend_active",
        "gauge",
        "1 for the backend new clients are relayed to.",
        [(labels, 1.0 if view.active == b else 0.0) for b, labels in backend_labels],
    )
    metric(
        "backend_sessions",
        "gauge",
        "Open client sessions per backend.",
        [(labels, relay.session_count(b.name)) for b, labels in backend_labels],
    )
    metric(
        "failovers_total", "counter", "Switches from one backend to another.", [("", controller.failovers)]
    )
    metric(
        "switches_total",
        "counter",
        "Changes of the active backend (including to/from none).",
        [("", controller.switches)],
    )
    metric("traffic_enabled", "gauge", "1 while traffic is enabled.", [("", float(view.traffic.enabled))])
    metric(
        "serving",
        "gauge",
        "1 while new clients are relayed (traffic on and a backend active).",
        [("", float(view.serving))],
    )
    metric("draining", "gauge", "1 once a drain or shutdown began.", [("", float(view.traffic.draining))])
    return "\n".join(lines) + "\n"
