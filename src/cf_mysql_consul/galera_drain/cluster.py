"""The rest of the cluster as the drain sees it: peers' galera-healthcheck and the proxies' API.

Contract: every HTTP call has a timeout (``timeout`` seconds, default 2); nothing raises for a
peer or proxy that is down: the answer carries the reason ("unreachable: ..."). The only write
is ``request_switchover`` (``PATCH /v0/cluster preferredBackend``), which raises
``SwitchoverError`` with the proxy's answer when refused.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from cf_mysql_consul.galera import SYNCED
from cf_mysql_consul.galera_drain.decide import PeerStatus, ProxyView
from cf_mysql_consul.proxy.client import ApiError, ApiRefused, ProxyClient, ProxyEndpoint


class SwitchoverError(RuntimeError):
    """The proxy did not accept the preferred backend (the message has its answer)."""


@dataclass(frozen=True, slots=True)
class Peer:
    """Another data node and its galera-healthcheck URL."""

    name: str
    healthcheck_url: str


@dataclass(frozen=True, slots=True)
class ProxyApiTarget:
    """One proxy's API (``http://host:api_port``) and the basic-auth credentials."""

    name: str
    url: str
    username: str
    password: str

    def client(self, timeout: float) -> ProxyClient:
        """The proxy API client for this proxy."""
        return ProxyClient(ProxyEndpoint.from_url(self.url, self.username, self.password), timeout=timeout)


def peer_status(peer: Peer, *, timeout: float = 2.0) -> PeerStatus:
    """Ask a peer's galera-healthcheck: healthy only when it answers 200 AND reports Synced.

    galera-healthcheck may answer 200 for a Donor (``available_when_donor``): fine for serving
    clients, but a desynced peer is still catching up, so this node must not stop yet.
    """
    try:
        with urllib.request.urlopen(peer.healthcheck_url, timeout=timeout) as response:
            body = _json(response.read())
            comment = str(body.get("wsrep_local_state_comment", "healthy"))
            if "wsrep_local_state" in body and body["wsrep_local_state"] != SYNCED:
                return PeerStatus(peer.name, False, f"{comment} (serving, but not Synced)")
            return PeerStatus(peer.name, True, comment)
    except urllib.error.HTTPError as exc:
        body = _json(exc.read())
        return PeerStatus(peer.name, False, str(body.get("wsrep_local_state_comment") or body.get("error")
                                                or f"HTTP {exc.code}"))
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return PeerStatus(peer.name, False, f"unreachable: {reason}")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def proxy_view(proxies: tuple[ProxyApiTarget, ...], *, timeout: float = 2.0) -> ProxyView:
    """Find the proxy that serves traffic and what it serves from (first serving one wins)."""
    errors = []
    for proxy in proxies:
        api = proxy.client(timeout)
        try:
            cluster = api.cluster()
            if not cluster.get("trafficEnabled"):
                continue
            backends = api.backends()
        except (ApiError, TypeError, ValueError) as exc:
            errors.append(f"{proxy.name}: {exc}")
            continue
        active = (cluster.get("activeBackend") or {}).get("name")
        healthy = tuple(str(b["name"]) for b in backends if b.get("healthy"))
        return ProxyView(active_proxy=proxy.name, active_backend=active, healthy_backends=healthy)
    return ProxyView(error="; ".join(errors) or None)


def request_switchover(proxies: tuple[ProxyApiTarget, ...], active_proxy: str, target: str, *,
                       timeout: float = 2.0) -> dict[str, Any]:
    """``PATCH /v0/cluster preferredBackend=<target>`` on the active proxy; its answer."""
    proxy = next((p for p in proxies if p.name == active_proxy), None)
    if proxy is None:
        raise SwitchoverError(f"unknown proxy {active_proxy}")
    try:
        return proxy.client(timeout).patch_cluster(preferredBackend=target)
    except ApiRefused as exc:
        raise SwitchoverError(f"{proxy.name} refused preferredBackend={target}: HTTP {exc.status} "
                              f"{exc.text[:200]!r}") from exc
    except ApiError as exc:
        raise SwitchoverError(f"{proxy.name} did not answer PATCH /v0/cluster: {exc}") from exc
