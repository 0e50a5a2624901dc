"""The proxy side of the lock: its API (traffic lease, preferred backend, drain), with timeouts.

A thin adapter over the one proxy API client (:mod:`cf_mysql_consul.proxy.client`). Every call
returns within ``timeout`` seconds or raises ``ProxyError``; the subclass says what the failure
means for the lock: ``ProxyGone`` (connection refused: no process listens, so nothing is
served), ``ProxyDraining`` (409: the proxy is shutting down), anything else (timeout, 5xx) may
be a hung proxy that could still serve until its lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cf_mysql_consul.consul_lock.config import ProxyEndpoint
from cf_mysql_consul.consul_lock.decide import ProxyState
from cf_mysql_consul.proxy import client

T = TypeVar("T")


class ProxyError(RuntimeError):
    """A proxy API call failed; the message keeps the cause."""


class ProxyGone(ProxyError):
    """Connection refused: the proxy process is not running."""


class ProxyDraining(ProxyError):
    """The proxy refused to enable traffic because it is draining for shutdown."""


def _translated(call: Callable[[], T]) -> T:
    """``call()``, with the client's failures turned into this adapter's contract."""
    try:
        return call()
    except client.ApiGone as exc:
        raise ProxyGone(str(exc)) from exc
    except client.ApiRefused as exc:
        raise (ProxyDraining if exc.status == 409 else ProxyError)(str(exc)) from exc
    except client.ApiError as exc:
        raise ProxyError(str(exc)) from exc


class ProxyControl:
    """Calls to the colocated proxy's API (basic auth) and health port."""

    def __init__(self, endpoint: ProxyEndpoint, *, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.api = client.ProxyClient(client.ProxyEndpoint(
            endpoint.address, endpoint.api_username, endpoint.api_password, endpoint.api_port, endpoint.health_port,
        ), timeout=timeout)

    @property
    def live_url(self) -> str:
        """The unauthenticated liveness URL (a Consul check operators can see; not tied to the session)."""
        return f"{self.api.endpoint.health_url}/live"

    @property
    def health_url(self) -> str:
        """The URL that answers 200 only while the proxy serves (the service check)."""
        return f"{self.api.endpoint.health_url}/health"

    def cluster(self) -> dict[str, Any]:
        """``GET /v0/cluster``."""
        return _translated(self.api.cluster)

    def state(self) -> tuple[ProxyState, str, dict[str, Any] | None]:
        """The proxy's state for the decision, a detail, and the cluster document (None on error)."""
        try:
            cluster = self.cluster()
        except ProxyGone as exc:
            return ProxyState.GONE, str(exc), None
        except ProxyError as exc:
            return ProxyState.UNREACHABLE, str(exc), None
        if cluster.get("draining"):
            return ProxyState.DRAINING, str(cluster.get("message")), cluster
        if cluster.get("trafficEnabled"):
            return ProxyState.SERVING, str(cluster.get("message")), cluster
        return ProxyState.STANDBY, str(cluster.get("message")), cluster

    def enable(self, *, lease_seconds: float, lease_until: float, message: str,
               preferred: str | None = None) -> dict[str, Any]:
        """Enable traffic with a lease (renewal = the same call); optionally set the preferred backend.

        ``lease_until`` (this host's ``time.monotonic()``) is where this job's accounting ends the
        lease: the proxy caps the lease there and refuses the call if it arrives later.
        """
        body: dict[str, Any] = {"leaseSeconds": lease_seconds, "leaseUntilMonotonic": lease_until}
        if preferred:
            body["preferredBackend"] = preferred
        return _translated(lambda: self.api.set_traffic(True, message, **body))

    def disable(self, message: str) -> dict[str, Any]:
        """Disable traffic (the proxy severs its sessions)."""
        return _translated(lambda: self.api.set_traffic(False, message))

    def drain(self, reason: str) -> dict[str, Any]:
        """``POST /v0/drain``: stop admitting clients for shutdown, let open sessions finish."""
        return _translated(lambda: self.api.drain(reason))

    def healthy_backends(self) -> set[str]:
        """Names of the backends the proxy judges healthy (empty on error)."""
        try:
            return {b["name"] for b in _translated(self.api.backends) if b.get("healthy")}
        except (ProxyError, KeyError, TypeError):
            return set()
