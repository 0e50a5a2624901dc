"""The proxy side of the lock: its API (traffic lease, preferred backend, drain), with timeouts.

Every call returns within ``timeout`` seconds or raises ``ProxyError``; the subclass says
what the failure means for the lock: ``ProxyGone`` (connection refused: no process listens,
so nothing is served), ``ProxyDraining`` (409: the proxy is shutting down), anything else
(timeout, 5xx) may be a hung proxy that could still serve until its lease runs out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from cf_mysql_consul.consul_lock.config import ProxyEndpoint
from cf_mysql_consul.consul_lock.decide import ProxyState


class ProxyError(RuntimeError):
    """A proxy API call failed; the message keeps the cause."""


class ProxyGone(ProxyError):
    """Connection refused: the proxy process is not running."""


class ProxyDraining(ProxyError):
    """The proxy refused to enable traffic because it is draining for shutdown."""


class ProxyControl:
    """Calls to the colocated proxy's API (basic auth) and health port."""

    def __init__(self, endpoint: ProxyEndpoint, *, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.base = f"http://{endpoint.address}:{endpoint.api_port}"
        self.session = requests.Session()
        self.session.auth = (endpoint.api_username, endpoint.api_password)

    @property
    def live_url(self) -> str:
        """The unauthenticated liveness URL (a Consul check operators can see; not tied to the session)."""
        return f"http://{self.endpoint.address}:{self.endpoint.health_port}/live"

    @property
    def health_url(self) -> str:
        """The URL that answers 200 only while the proxy serves (the service check)."""
        return f"http://{self.endpoint.address}:{self.endpoint.health_port}/health"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self.session.request(method, self.base + path, json=body, timeout=self.timeout)
        except requests.ConnectionError as exc:
            if "refused" in str(exc).lower():
                raise ProxyGone(f"{method} {path}: connection refused") from exc
            raise ProxyError(f"{method} {path}: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise ProxyError(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code == 409:
            raise ProxyDraining(f"{method} {path}: 409 {response.text[:200]}")
        if response.status_code >= 400:
            raise ProxyError(f"{method} {path}: HTTP {response.status_code} {response.text[:200]}")
        try:
            return response.json()
        except ValueError as exc:
            raise ProxyError(f"{method} {path}: not JSON") from exc

    def cluster(self) -> dict[str, Any]:
        """``GET /v0/cluster``."""
        result: dict[str, Any] = self._call("GET", "/v0/cluster")
        return result

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
        body: dict[str, Any] = {"trafficEnabled": True, "leaseSeconds": lease_seconds,
                                "leaseUntilMonotonic": lease_until, "message": message}
        if preferred:
            body["preferredBackend"] = preferred
        result: dict[str, Any] = self._call("PATCH", "/v0/cluster", body)
        return result

    def disable(self, message: str) -> dict[str, Any]:
        """Disable traffic (the proxy severs its sessions)."""
        result: dict[str, Any] = self._call("PATCH", "/v0/cluster", {"trafficEnabled": False, "message": message})
        return result

    def drain(self, reason: str) -> dict[str, Any]:
        """``POST /v0/drain``: stop admitting clients for shutdown, let open sessions finish."""
        result: dict[str, Any] = self._call("POST", f"/v0/drain?reason={quote(reason)}")
        return result

    def healthy_backends(self) -> set[str]:
        """Names of the backends the proxy judges healthy (empty on error)."""
        try:
            return {b["name"] for b in self._call("GET", "/v0/backends") if b.get("healthy")}
        except (ProxyError, KeyError, TypeError):
            return set()
