"""The one client of the proxy's HTTP API: every job, hook, tool and test that talks to a proxy uses it.

Contract: every call returns within ``timeout`` seconds or raises :class:`ApiError`, whose
subclass says what the failure means: :class:`ApiGone` (connection refused: no process listens
there, so nothing is served), :class:`ApiRefused` (the API answered with an HTTP error status;
``status`` and ``text`` keep its answer, e.g. 409 while the proxy drains for shutdown); a plain
ApiError is anything else (timeout, reset, an answer that is not JSON): a hung proxy may still
serve until its lease runs out. Bodies are JSON (the API takes form fields too, for
switchboard's clients). Nothing here retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from cf_mysql_consul.proxy.config import ProxyConfig

DEFAULT_API_PORT = 8080
DEFAULT_HEALTH_PORT = 1936


class ApiError(RuntimeError):
    """A call to the proxy's API failed (the message names the call and the cause)."""


class ApiGone(ApiError):
    """Connection refused: no proxy process listens there."""


class ApiRefused(ApiError):
    """The API answered with an HTTP error status."""

    def __init__(self, message: str, status: int, text: str) -> None:
        super().__init__(message)
        self.status = status
        self.text = text


@dataclass(frozen=True, slots=True)
class ProxyEndpoint:
    """Where one proxy's API and health port answer, and the API's basic-auth credentials."""

    host: str
    username: str
    password: str
    api_port: int = DEFAULT_API_PORT
    health_port: int = DEFAULT_HEALTH_PORT

    @classmethod
    def from_config(cls, config: ProxyConfig) -> ProxyEndpoint:
        """The proxy that ``config`` (its rendered ``proxy.yml``) runs (a wildcard bind: 127.0.0.1)."""
        host = "127.0.0.1" if config.bind_address in ("0.0.0.0", "::") else config.bind_address
        return cls(host, config.api_username, config.api_password, config.api_port, config.health_port)

    @classmethod
    def from_url(cls, url: str, username: str, password: str) -> ProxyEndpoint:
        """The proxy whose API is at ``http://host:port``."""
        parts = urlsplit(url)
        return cls(parts.hostname or "", username, password, parts.port or DEFAULT_API_PORT)

    @property
    def api_url(self) -> str:
        """``http://host:api_port``."""
        return f"http://{self.host}:{self.api_port}"

    @property
    def health_url(self) -> str:
        """``http://host:health_port``."""
        return f"http://{self.host}:{self.health_port}"


def _refused(exc: BaseException) -> bool:
    """True when the cause of ``exc`` is a refused connection (requests wraps it twice)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class ProxyClient:
    """Calls to one proxy's API (basic auth) and health port, each bounded by ``timeout`` seconds."""

    def __init__(self, endpoint: ProxyEndpoint, *, timeout: float = 2.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._session = requests.Session()
        self._session.auth = (endpoint.username, endpoint.password)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                params: dict[str, str] | None = None, timeout: float | None = None) -> Any:
        """One API call; its decoded JSON answer. ApiGone, ApiRefused or ApiError (see the module)."""
        call = f"{method} {path}"
        try:
            response = self._session.request(method, self.endpoint.api_url + path, json=body, params=params,
                                             timeout=self.timeout if timeout is None else timeout)
        except requests.RequestException as exc:
            if isinstance(exc, requests.ConnectionError) and _refused(exc):
                raise ApiGone(f"{call}: connection refused by {self.endpoint.api_url}") from exc
            raise ApiError(f"{call}: {type(exc).__name__} ({exc})") from exc
        if response.status_code >= 400:
            raise ApiRefused(f"{call}: HTTP {response.status_code} {response.text[:200]}", response.status_code,
                             response.text)
        try:
            return response.json() if response.content else None
        except ValueError as exc:
            raise ApiError(f"{call}: the answer is not JSON: {response.text[:200]!r}") from exc

    def cluster(self, *, timeout: float | None = None) -> dict[str, Any]:
        """``GET /v0/cluster``: traffic, active backend, lease, draining, message."""
        return dict(self.request("GET", "/v0/cluster", timeout=timeout))

    def backends(self) -> list[dict[str, Any]]:
        """``GET /v0/backends``: every backend with its health and session count."""
        return list(self.request("GET", "/v0/backends"))

    def patch_cluster(self, **fields: Any) -> dict[str, Any]:
        """``PATCH /v0/cluster`` with ``fields`` (``trafficEnabled``, ``message``, ``leaseSeconds``,
        ``leaseUntilMonotonic``, ``preferredBackend``); the cluster document it answers."""
        return dict(self.request("PATCH", "/v0/cluster", fields) or {})

    def set_traffic(self, enabled: bool, message: str, **fields: Any) -> dict[str, Any]:
        """Turn traffic on or off (disabling severs every client session at once)."""
        return self.patch_cluster(trafficEnabled=enabled, message=message, **fields)

    def drain(self, reason: str | None = None) -> dict[str, Any]:
        """``POST /v0/drain``: stop admitting clients for shutdown, let open sessions finish."""
        return dict(self.request("POST", "/v0/drain", params=None if reason is None else {"reason": reason}) or {})

    def metrics(self) -> str:
        """``GET /metrics`` (Prometheus text)."""
        try:
            response = self._session.get(f"{self.endpoint.api_url}/metrics", timeout=self.timeout)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise ApiError(f"GET /metrics: {type(exc).__name__} ({exc})") from exc
        return response.text

    def health_status(self) -> int | None:
        """HTTP status of the health port's ``GET /health`` (200 only while serving); None: no answer."""
        try:
            return requests.get(f"{self.endpoint.health_url}/health", timeout=self.timeout).status_code
        except requests.RequestException:
            return None

    def live(self) -> bool:
        """True when the health port answers ``GET /live`` (the process runs, serving or not)."""
        try:
            return requests.get(f"{self.endpoint.health_url}/live", timeout=self.timeout).ok
        except requests.RequestException:
            return False
