"""A tiny blocking client for the proxy's own API (used by bin/drain and bin/post-start)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

from cf_mysql_consul.proxy.config import ProxyConfig


class ApiError(RuntimeError):
    """The API did not answer, or answered with an error status (the message says which)."""


def _host(config: ProxyConfig) -> str:
    return "127.0.0.1" if config.bind_address in ("0.0.0.0", "::") else config.bind_address


class ProxyApi:
    """Calls to ``http://<bind_address>:<api_port>`` with basic auth; every call has a timeout."""

    def __init__(self, config: ProxyConfig, *, timeout: float = 2.0) -> None:
        self.base = f"http://{_host(config)}:{config.api_port}"
        self.health_base = f"http://{_host(config)}:{config.health_port}"
        token = base64.b64encode(f"{config.api_username}:{config.api_password}".encode()).decode()
        self._auth = f"Basic {token}"
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        auth: bool = True,
        base: str | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON; raise ``ApiError`` on any failure."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request((base or self.base) + path, data=data, method=method)
        if auth:
            request.add_header("Authorization", self._auth)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {path}: HTTP {exc.code} {exc.read()[:200]!r}") from exc
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            raise ApiError(f"{method} {path}: {exc}") from exc

    def live(self) -> bool:
        """True when the health port answers ``/live``."""
        try:
            self.call("GET", "/live", auth=False, base=self.health_base)
        except ApiError:
            return False
        return True
