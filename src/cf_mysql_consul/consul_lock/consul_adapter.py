"""The Consul side of the lock, over py-consul with explicit HTTP timeouts.

Contract (as Patroni's DCS class writes it down): every method returns within
``timeout`` seconds (blocking reads within their ``wait`` plus ``timeout``) or raises
``ConsulUnavailable``; ``renew`` raises ``SessionGone`` when the server no longer knows the
session. ``acquire`` and ``release`` are atomic compare-and-set operations on the server:
``acquire`` succeeds only when the key is free (and out of lock-delay) or already ours.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import consul
import requests

from cf_mysql_consul.consul_lock.decide import KeyView


class ConsulUnavailable(RuntimeError):
    """A call failed or timed out; the message keeps the cause."""


class SessionGone(ConsulUnavailable):
    """The session no longer exists on the server (expired, invalidated or destroyed)."""


class _Consul(consul.Consul):  # type: ignore[misc]
    """py-consul's client with its connection timeout set (the default is 30 s)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._timeout = timeout
        super().__init__(host=host, port=port)

    def http_connect(self, host: str, port: int, scheme: str, verify: bool | str = True, cert: Any = None) -> Any:
        from consul.std import HTTPClient

        return HTTPClient(host, port, scheme, verify, cert, connections_timeout=self._timeout)


def _key_view(item: dict[str, Any] | None) -> KeyView | None:
    if item is None:
        return None
    raw = item.get("Value")
    value: dict[str, Any] | None = None
    if raw:
        try:
            decoded = json.loads(raw)
            value = decoded if isinstance(decoded, dict) else None
        except (ValueError, UnicodeDecodeError):
            value = None
    return KeyView(session=item.get("Session"), lock_index=int(item.get("LockIndex", 0)),
                   modify_index=int(item.get("ModifyIndex", 0)), value=value)


class ConsulLock:
    """The calls consul-lock makes to its local Consul agent."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self.timeout = timeout
        self.client = _Consul(host, port, timeout)

    def _txn(self, what: str, ops: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """One atomic transaction: the result of each operation, or None when a check in it failed
        (Consul rolled it back and answered 409)."""
        try:
            doc = self.client.txn.put(ops)
        except consul.exceptions.ClientError as exc:
            if str(exc).startswith("409"):
                return None
            raise ConsulUnavailable(f"{what}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        except (requests.RequestException, consul.ConsulException, OSError, ValueError) as exc:
            raise ConsulUnavailable(f"{what}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        return list((doc or {}).get("Results") or [])

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except consul.NotFound as exc:
            raise SessionGone(f"{what}: not found") from exc
        except (requests.RequestException, consul.ConsulException, OSError, ValueError) as exc:
            raise ConsulUnavailable(f"{what}: {type(exc).__name__}: {str(exc)[:200]}") from exc

    # ---- agent (local, no server round trip) ---------------------------------------------
    def register(self, *, service_id: str, service_name: str, address: str, port: int, health_url: str,
                 live_check_id: str, live_url: str, heartbeat_check_id: str, heartbeat_ttl: float,
                 interval: float) -> None:
        """Register the service (HTTP check on /health), the /live check and the heartbeat TTL check."""
        every = f"{int(interval * 1000)}ms"
        self.register_service(service_id=service_id, service_name=service_name, address=address, port=port,
                              health_url=health_url, interval=interval)
        self._call("register live check", self.client.agent.check.register, f"{service_id} proxy /live",
                   check={"http": live_url, "interval": every, "timeout": every}, check_id=live_check_id)
        self.register_heartbeat(service_id=service_id, check_id=heartbeat_check_id, ttl=heartbeat_ttl)

    def register_service(self, *, service_id: str, service_name: str, address: str, port: int, health_url: str,
                         interval: float, status: str | None = None) -> None:
        """(Re-)register the service with its HTTP check on /health, starting at ``status``.

        Consul runs the HTTP check every ``interval`` only; registering anew with the status this
        job has just brought about (``passing`` once its proxy serves, ``critical`` once it
        stopped) puts DNS right at once, and the check confirms it at its next run. Anew: Consul
        1.8.7 keeps a registered check's status when the service is merely registered again.
        """
        every = f"{int(interval * 1000)}ms"
        check = {"http": health_url, "interval": every, "timeout": every}
        if status is not None:
            check["status"] = status
            self._call("deregister service", self.client.agent.service.deregister, service_id)
        self._call("register service", self.client.agent.service.register, service_name, service_id=service_id,
                   address=address, port=port, check=check)

    def deregister(self, *, service_id: str, check_ids: tuple[str, ...]) -> None:
        """Remove what ``register`` added (after the session is gone: removing a check invalidates it)."""
        self._call("deregister service", self.client.agent.service.deregister, service_id)
        for check_id in check_ids:
            self._call("deregister check", self.client.agent.check.deregister, check_id)

    def heartbeat(self, check_id: str) -> None:
        """Pass the heartbeat TTL check."""
        self._call("heartbeat", self.client.agent.check.ttl_pass, check_id)

    def register_heartbeat(self, *, service_id: str, check_id: str, ttl: float) -> None:
        """(Re-)register the heartbeat TTL check as passing. The agent syncs a registration to the
        servers at once; a check update whose sync failed (servers unreachable) is retried only at the
        next periodic full sync, 1-2 minutes later, so after an outage this puts the catalog right."""
        self._call("register heartbeat check", self.client.agent.check.register, f"{service_id} consul-lock heartbeat",
                   check={"ttl": f"{int(ttl * 1000)}ms", "status": "passing"}, check_id=check_id)

    def node_name(self) -> str:
        """The local agent's Consul node name."""
        doc = self._call("agent self", self.client.agent.self)
        return str(doc["Config"]["NodeName"])

    def members(self) -> list[dict[str, Any]]:
        """The agent's LAN members as its gossip sees them (no server round trip)."""
        return list(self._call("agent members", self.client.agent.members) or [])

    def join(self, address: str) -> None:
        """Ask the agent to join the member at ``address`` (``addr:port``): one gossip push-pull. The
        agent goes on trying after this call's timeout."""
        self._call("agent join", self.client.agent.join, address)

    def node_alive(self, node: str) -> bool:
        """Whether ``node``'s serfHealth is passing in the catalog (False when unknown)."""
        _, checks = self._call("node health", self.client.health.node, node)
        return any(c.get("CheckID") == "serfHealth" and c.get("Status") == "passing" for c in checks or [])

    def mark_others_critical(self, *, service_name: str, own_service_id: str, note: str) -> list[str]:
        """Set every OTHER instance of ``service_name`` whose check passes to critical in the catalog
        (on the servers, for everyone's DNS at once); returns their service IDs.

        A new holder does this at takeover: an old holder cut off from the servers cannot take its own
        instance out of DNS. Its agent writes its own status back at its next sync, which by then
        is critical too (its proxy no longer serves), so the two never disagree for long.
        """
        _, entries = self._call("list service", self.client.health.service, service_name)
        marked = []
        for entry in entries or []:
            service, node = entry.get("Service") or {}, entry.get("Node") or {}
            if service.get("ID") == own_service_id:
                continue
            for check in entry.get("Checks") or []:
                if check.get("ServiceID") != service.get("ID") or check.get("Status") != "passing":
                    continue
                self._call("mark critical", self.client.catalog.register, node["Node"], node["Address"],
                           skip_node_update=True,
                           check={"Node": node["Node"], "CheckID": check["CheckID"], "Name": check.get("Name", ""),
                                  "ServiceID": service["ID"], "Status": "critical", "Output": note})
                marked.append(str(service["ID"]))
        return marked

    # ---- sessions and the key (server round trips) ---------------------------------------
    def create_session(self, *, name: str, checks: list[str], ttl: float, lock_delay: float) -> str:
        """A new session tied to ``checks`` (fails while one of them is critical)."""
        sid = self._call("create session", self.client.session.create, name=name, checks=checks,
                         lock_delay=int(lock_delay), behavior="release", ttl=int(ttl))
        return str(sid)

    def renew(self, session: str) -> None:
        """Reset the session's TTL; ``SessionGone`` when it no longer exists."""
        self._call("renew session", self.client.session.renew, session)

    def destroy(self, session: str) -> None:
        """Destroy the session (a held key is released, with lock-delay)."""
        self._call("destroy session", self.client.session.destroy, session)

    def read_key(self, key: str, *, consistent: bool) -> tuple[int, KeyView | None]:
        """The key now (``consistent`` goes through the leader): (index, view or None if absent)."""
        index, item = self._call("read key", self.client.kv.get, key,
                                 consistency="consistent" if consistent else None)
        return int(index or 0), _key_view(item)

    def watch_key(self, key: str, index: int, *, wait: float, consistent: bool) -> tuple[int, KeyView | None]:
        """Blocking read: returns when the key's index passes ``index`` or after ``wait`` seconds."""
        idx, item = self._call("watch key", self.client.kv.get, key, index=index, wait=f"{int(wait * 1000)}ms",
                               consistency="consistent" if consistent else None)
        return int(idx or 0), _key_view(item)

    def acquire(self, key: str, session: str, value: dict[str, Any]) -> bool:
        """``PUT ?acquire``: True when ``session`` now holds ``key`` (also updates the value of a held key)."""
        return bool(self._call("acquire", self.client.kv.put, key, json.dumps(value), acquire=session))

    def release(self, key: str, session: str, value: dict[str, Any]) -> bool:
        """``PUT ?release``: give the key up without lock-delay; True when it was ours.

        A PUT always replaces the value, so the caller passes the value to keep (the standby
        reads the predecessor's backend from it).
        """
        return bool(self._call("release", self.client.kv.put, key, json.dumps(value), release=session))

    def prove(self, key: str, session: str, index: int, value: dict[str, Any]) -> KeyView | None:
        """Prove ``session`` still holds ``key`` by writing it (rule 5 of ``timing``): one transaction
        that checks nobody wrote the key since ModifyIndex ``index`` and locks it again with
        ``session`` and ``value``. The key's new view, or None when the key changed or is not ours."""
        results = self._txn("prove", [
            {"KV": {"Verb": "check-index", "Key": key, "Index": index}},
            {"KV": {"Verb": "check-session", "Key": key, "Session": session}},
            {"KV": {"Verb": "lock", "Key": key, "Session": session, "Value": _encoded(value)}},
        ])
        if results is None:
            return None
        entry = results[-1].get("KV") or {}
        return KeyView(session=entry.get("Session"), lock_index=int(entry.get("LockIndex", 0)),
                       modify_index=int(entry.get("ModifyIndex", 0)), value=value)

    def unseat(self, key: str, holder_session: str, index: int, value: dict[str, Any]) -> bool:
        """Release ``holder_session``'s hold on ``key`` only if nobody wrote the key since ModifyIndex
        ``index`` (one transaction; a release starts no lock-delay). True when released."""
        return self._txn("unseat", [
            {"KV": {"Verb": "check-index", "Key": key, "Index": index}},
            {"KV": {"Verb": "unlock", "Key": key, "Session": holder_session, "Value": _encoded(value)}},
        ]) is not None


def _encoded(value: dict[str, Any]) -> str:
    """A key value as the transaction API takes it: base64 of its JSON."""
    return base64.b64encode(json.dumps(value).encode()).decode()
