"""The data path: relays bytes between MySQL clients and the active backend, unparsed.

Bare asyncio Protocols (run on uvloop by the daemon): a streams-based relay measured about 0.6
of HAProxy, Protocols matched it. Keep ``data_received`` to one write plus one counter.

Backpressure: when one side's transport buffer passes its high-water mark (``pause_writing``),
the other side stops reading until it drains (``resume_writing``). Sessions are grouped by
backend so a switch can sever every client of the old backend in one step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cf_mysql_consul.proxy.config import Backend
from cf_mysql_consul.proxy.mysql_packets import ER_CON_COUNT_ERROR, ER_UNKNOWN_ERROR, err_packet

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RelayStats:
    """Counters of the data path (read by /metrics)."""

    accepted: int = 0
    refused_inactive: int = 0
    refused_full: int = 0
    backend_connect_failures: int = 0
    severed: int = 0
    bytes_from_clients: int = 0
    bytes_from_backends: int = 0


class Relay:
    """Owns the listener, the admission target and the open sessions per backend.

    The controller sets ``target`` (the backend new clients go to) or clears it and sets
    ``refusal`` (the ERR packet sent instead of the greeting). Only the event loop thread
    touches a Relay.
    """

    def __init__(self, *, instance_name: str, max_connections: int) -> None:
        self.instance_name = instance_name
        self.max_connections = max_connections
        self.target: Backend | None = None
        self.refusal = err_packet(ER_UNKNOWN_ERROR, f"{instance_name} is starting up")
        self.too_many = err_packet(
            ER_CON_COUNT_ERROR,
            f"too many connections through this proxy ({instance_name}: max_connections {max_connections})",
        )
        # The traffic lease's deadline (controller's clock), checked on admission and on every
        # client chunk: a proxy resumed after SIGSTOP must not relay a byte past its lease, even
        # before its event loop has run the lease timer.
        self.lease_deadline: float | None = None
        self.clock: Callable[[], float] = time.monotonic
        self.on_lease_expired: Callable[[], None] = lambda: None
        self.sessions: dict[str, set[ClientSide]] = {}
        self.open = 0
        self.stats = RelayStats()
        self._server: asyncio.AbstractServer | None = None

    async def listen(self, host: str, port: int) -> None:
        """Start accepting clients on ``host:port``."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientSide(self), host, port, backlog=4096, reuse_address=True
        )

    def lease_valid(self) -> bool:
        """False once the lease deadline has passed; then the controller is told at once (it
        disables traffic and severs every session before this returns)."""
        deadline = self.lease_deadline
        if deadline is None or self.clock() < deadline:
            return True
        self.on_lease_expired()
        return False

    def stop_accepting(self) -> None:
        """Close the listening socket; open sessions are untouched."""
        if self._server is not None:
            self._server.close()

    def session_count(self, backend_name: str) -> int:
        """Number of open client sessions relayed to ``backend_name``."""
        return len(self.sessions.get(backend_name, ()))

    def sever(self, backend_name: str | None = None) -> int:
        """Abort every session (both sides) to ``backend_name`` (None = all); return how many."""
        names = list(self.sessions) if backend_name is None else [backend_name]
        count = 0
        for name in names:
            doomed = self.sessions.pop(name, set())
            count += len(doomed)
            for session in doomed:
                session.abort()
        self.open -= count
        self.stats.severed += count
        return count

    def _register(self, session: ClientSide, backend: Backend) -> None:
        self.sessions.setdefault(backend.name, set()).add(session)
        self.open += 1

    def _unregister(self, session: ClientSide, backend_name: str) -> None:
        group = self.sessions.get(backend_name)
        if group is not None and session in group:
            group.discard(session)
            self.open -= 1


class ClientSide(asyncio.Protocol):
    """The client's connection; owns the session and the connect to the backend."""

    __slots__ = ("backend", "closed", "peer", "pending", "relay", "transport")

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.transport: Any = None
        self.peer: Any = None
        self.backend: Backend | None = None
        self.closed = False
        self.pending: list[bytes] = []

    def connection_made(self, transport: Any) -> None:
        relay = self.relay
        self.transport = transport
        target = relay.target
        if target is not None and relay.lease_deadline is not None and not relay.lease_valid():
            target = relay.target  # None now: the expiry disabled traffic
        if target is None:
            relay.stats.refused_inactive += 1
            self._refuse(relay.refusal)
            return
        if relay.open >= relay.max_connections:
            relay.stats.refused_full += 1
            self._refuse(relay.too_many)
            return
        relay.stats.accepted += 1
        self.backend = target
        relay._register(self, target)
        transport.pause_reading()  # nothing to forward to until the backend is connected
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.create_connection(lambda: BackendSide(self), target.host, target.port))
        task.add_done_callback(self._connect_done)

    def _refuse(self, packet: bytes) -> None:
        self.closed = True
        self.transport.write(packet)
        self.transport.close()

    def _connect_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self.closed:
            return
        exc = task.exception()
        if exc is None:
            return
        backend = self.backend
        assert backend is not None
        self.relay.stats.backend_connect_failures += 1
        log.info("connect to backend %s failed: %s", backend.name, exc)
        self.closed = True
        self.relay._unregister(self, backend.name)
        self.transport.write(
            err_packet(
                ER_UNKNOWN_ERROR,
                f"{self.relay.instance_name} could not reach backend {backend.name} "
                f"({backend.host}:{backend.port}): {exc}",
            )
        )
        self.transport.close()

    def backend_connected(self, peer: Any) -> None:
        """Called by the backend side once connected: start relaying the client's bytes."""
        if self.closed:
            peer.abort()
            return
        self.peer = peer
        if self.pending:
            peer.write(b"".join(self.pending))
            self.pending.clear()
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        if relay.lease_deadline is not None and not relay.lease_valid():
            return  # this session was just severed with all the others
        relay.stats.bytes_from_clients += len(data)
        peer = self.peer
        if peer is None:
            # uvloop may deliver bytes read before pause_reading() took effect: keep them.
            self.pending.append(data)
            return
        peer.write(data)

    def eof_received(self) -> bool:
        return False  # a half-closed client is a closed client: MySQL never half-closes

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            if self.backend is not None:
                self.relay._unregister(self, self.backend.name)
        if self.peer is not None:
            self.peer.close()

    def abort(self) -> None:
        """Sever: drop both sides now, without flushing (called by ``Relay.sever``)."""
        self.closed = True
        self.transport.abort()
        if self.peer is not None:
            self.peer.abort()


class BackendSide(asyncio.Protocol):
    """The backend's connection; everything it reads goes to the client."""

    __slots__ = ("client", "client_transport", "relay")

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.client_transport = client.transport
        self.relay = client.relay

    def connection_made(self, transport: Any) -> None:
        self.client.backend_connected(transport)

    def data_received(self, data: bytes) -> None:
        self.relay.stats.bytes_from_backends += len(data)
        self.client_transport.write(data)

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self.client_transport.pause_reading()

    def resume_writing(self) -> None:
        self.client_transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client_transport.close()
