"""A proxy instance of a running lab, driven from outside through its real API.

Reads the proxy's rendered ``config/proxy.yml`` (what the job really runs with) for its
address, ports and credentials, and its ``events.jsonl`` from the instance's ``/var/vcap``.
Used by the benchmarks and by the lab integration tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from cf_mysql_consul.galera import SYNCED
from cf_mysql_consul.proxy.client import ProxyClient, ProxyEndpoint
from cf_mysql_consul.proxy.config import ProxyConfig, load_config
from cf_mysql_consul.proxy.events import read_events
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.waiting import wait_until

LOCK_JOB = "consul-lock"


def stop_lock_jobs(lab: Lab, *, timeout: float = 30) -> list[str]:
    """Stop every running consul-lock process (BPM-style) so that traffic is driven by hand.

    A stopping lock job disables its proxy's traffic first; this also waits until no proxy of
    the lab serves. Returns the instances whose lock job was stopped (for ``start_lock_jobs``).
    """
    stopped = []
    for inst in lab.deployment.with_job(LOCK_JOB):
        keys = [r.key for r in lab.records(inst) if r.key.startswith(LOCK_JOB + ".")]
        if any(lab.is_running(inst.name, k) for k in keys):
            lab.stop(inst.name, LOCK_JOB)
            stopped.append(inst.name)
    proxies = [LabProxy.of(lab, inst.name) for inst in lab.deployment.with_job("proxy")]
    wait_until(
        lambda: not any(p.cluster()["trafficEnabled"] for p in proxies),
        timeout=timeout,
        what="every proxy to stop serving once the lock jobs are stopped",
    )
    return stopped


def start_lock_jobs(lab: Lab, instances: list[str] | None = None) -> None:
    """Start the consul-lock job again on ``instances`` (default: every instance that has it)."""
    names = instances if instances is not None else [i.name for i in lab.deployment.with_job(LOCK_JOB)]
    for name in names:
        lab.start(name, LOCK_JOB)


def galera_settled(lab: Lab, nodes: tuple[str, ...] = ("mysql/0", "mysql/1"), size: int = 3) -> bool:
    """True when every node in ``nodes`` is Synced in one and the same view of ``size`` members.

    A resumed (SIGCONT) node still believes in its old view until it learns it was dropped, so
    "Synced" alone can be stale; the view's conf id must match too.
    """
    views = [lab.galera_status(n) for n in nodes]
    same_view = len({v.get("wsrep_cluster_conf_id") for v in views}) == 1
    return same_view and all(
        v.get("wsrep_cluster_size") == str(size) and v.get("wsrep_local_state") == str(SYNCED) for v in views
    )


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> ``{"name{labels}": value}`` (comments skipped)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@dataclass
class LabProxy:
    """One ``proxy/N`` instance of ``lab``: its API, health port, MySQL port and event log."""

    lab: Lab
    name: str
    config: ProxyConfig
    api: ProxyClient

    @classmethod
    def of(cls, lab: Lab, name: str = "proxy/0", *, timeout: float = 5.0) -> LabProxy:
        """The proxy ``name`` of ``lab`` (its job must have been rendered, i.e. started once)."""
        path = lab.instance_dir(lab.instance(name)) / "jobs" / "proxy" / "config" / "proxy.yml"
        config = load_config(path)
        return cls(lab, name, config, ProxyClient(ProxyEndpoint.from_config(config), timeout=timeout))

    @property
    def host(self) -> str:
        """The address clients connect to."""
        return self.config.bind_address

    @property
    def port(self) -> int:
        """The MySQL port."""
        return self.config.port

    @property
    def event_log(self) -> Path:
        """The host path of the proxy's ``events.jsonl``."""
        base = self.lab.instance_dir(self.lab.instance(self.name))
        return base / self.config.event_log_path.removeprefix("/var/vcap/")

    def cluster(self) -> dict[str, Any]:
        """``GET /v0/cluster``."""
        return self.api.cluster()

    def backends(self) -> list[dict[str, Any]]:
        """``GET /v0/backends``."""
        return self.api.backends()

    def patch(self, **fields: Any) -> dict[str, Any]:
        """``PATCH /v0/cluster`` with JSON ``fields``; raises ``ApiError`` on a non-2xx answer."""
        return self.api.patch_cluster(**fields)

    def enable(
        self,
        *,
        preferred: str | None = None,
        lease_seconds: float | None = None,
        message: str = "enabled by a lab test or benchmark",
    ) -> dict[str, Any]:
        """Turn traffic on (optionally pinned to ``preferred``, optionally with a lease)."""
        fields: dict[str, Any] = {"trafficEnabled": True, "message": message}
        if preferred is not None:
            fields["preferredBackend"] = preferred
        if lease_seconds is not None:
            fields["leaseSeconds"] = lease_seconds
        return self.patch(**fields)

    def disable(self, message: str = "disabled by a lab test or benchmark") -> dict[str, Any]:
        """Turn traffic off and clear any pending preferred backend."""
        return self.patch(trafficEnabled=False, message=message, preferredBackend="")

    def active(self) -> str | None:
        """Name of the active backend, or None."""
        active = self.cluster()["activeBackend"]
        return str(active["name"]) if active else None

    def health_status(self) -> int | None:
        """HTTP status of ``GET /health`` on the health port (200 serving, 503 not; None: no answer)."""
        return self.api.health_status()

    def metrics(self) -> dict[str, float]:
        """``GET /metrics``, parsed."""
        return parse_metrics(self.api.metrics())

    def backend_sessions(self) -> dict[str, int]:
        """Open client sessions per backend name, from ``/metrics``."""
        result = {}
        for key, value in self.metrics().items():
            if key.startswith("cf_mysql_proxy_backend_sessions{"):
                name = key.split('backend="', 1)[1].split('"', 1)[0]
                result[name] = int(value)
        return result

    def events(self) -> list[dict[str, Any]]:
        """Every event the proxy recorded so far."""
        return read_events(self.event_log)

    def connect(self, *, user: str = "root", password: str | None = None, **kwargs: Any) -> pymysql.Connection[Any]:
        """A MySQL connection through this proxy (default: the lab's admin user), autocommit."""
        options: dict[str, Any] = {"connect_timeout": 5, "autocommit": True, **kwargs}
        secret = access.mysql_admin(self.lab.deployment)[1] if password is None else password
        return pymysql.connect(host=self.host, port=self.port, user=user, password=secret, **options)
