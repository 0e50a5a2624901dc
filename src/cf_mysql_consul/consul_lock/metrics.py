"""consul-lock's Prometheus metrics (served on the peer API's ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

PREFIX = "cf_mysql_consul_lock"


class LockMetrics:
    """Every counter and gauge of one consul-lock process, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active = Gauge(f"{PREFIX}_active", "1 while this job keeps its proxy serving.", registry=r)
        self.failsafe = Gauge(f"{PREFIX}_failsafe", "1 while the proxy serves on every peer's promise, "
                              "Consul being unable to prove the lock.", registry=r)
        self.armed = Gauge(f"{PREFIX}_armed", "1 while serving or ready to take over at once.", registry=r)
        self.session_age = Gauge(f"{PREFIX}_session_age_seconds", "Age of this job's Consul session (0: none).",
                                 registry=r)
        self.lease_grants = Counter(f"{PREFIX}_lease_grants", "Traffic leases the proxy accepted.", registry=r)
        self.lease_refusals = Counter(f"{PREFIX}_lease_refusals", "Traffic lease grants the proxy refused or "
                                      "that failed.", registry=r)
        self.handovers = Counter(f"{PREFIX}_handovers", "Leadership events.", ["event"], registry=r)
        self.consul_errors = Counter(f"{PREFIX}_consul_errors", "Cycles in which a Consul call failed.",
                                     registry=r)
        self.failsafe_rounds = Counter(f"{PREFIX}_failsafe_rounds", "Failsafe requests to every peer, by outcome.",
                                       ["outcome"], registry=r)
        self.promises = Counter(f"{PREFIX}_failsafe_promises", "Failsafe requests from a holder, by answer.",
                                ["answer"], registry=r)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
