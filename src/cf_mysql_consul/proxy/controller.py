"""The proxy's state owner: health + traffic + selection in, admission and severing out.

Each ``reevaluate`` is one cycle: take one snapshot, ``traffic.evaluate`` and
``selection.decide`` (both pure), then act: sever the old backend's sessions on a switch or
when traffic goes off, and tell the relay whom to admit (or which ERR packet to send).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cf_mysql_consul.proxy import traffic
from cf_mysql_consul.proxy.config import Backend, ProxyConfig
from cf_mysql_consul.proxy.events import EventLog
from cf_mysql_consul.proxy.health import BackendMonitor
from cf_mysql_consul.proxy.mysql_packets import ER_UNKNOWN_ERROR, err_packet
from cf_mysql_consul.proxy.relay import Relay
from cf_mysql_consul.proxy.selection import BackendHealth, SelectionConfig, SelectionSnapshot, decide

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25
"""Safety-net re-evaluation period (lease expiry also has its own exact timer)."""


@dataclass(frozen=True, slots=True)
class ClusterView:
    """A read-only view for the API, /health and /metrics."""

    active: Backend | None
    traffic: traffic.TrafficState
    preferred: str | None
    verdict: str
    last_updated: float
    lease_remaining: float | None
    serving: bool


class Controller:
    """Owns traffic state, the active backend and the admission decision of the relay."""

    def __init__(
        self, config: ProxyConfig, relay: Relay, events: EventLog, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.relay = relay
        self.events = events
        self.clock = clock
        self.monitor: BackendMonitor | None = None
        self.traffic = traffic.initial(start_enabled=config.start_enabled)
        self.active: str | None = None
        self.preferred: str | None = None
        self.verdict = "not evaluated yet"
        self.started_at = clock()
        self.last_updated = time.time()
        self.failovers = 0
        self.switches = 0
        self.drain_started_at: float | None = None
        self._selection_config = SelectionConfig(config.startup_delay_seconds)
        self._lease_timer: asyncio.TimerHandle | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self.relay.refusal = self._refusal()
        self.relay.clock = clock
        self.relay.on_lease_expired = self.reevaluate

    def start(self) -> None:
        """Start the periodic safety-net tick (needs a running loop)."""
        self._tick_task = asyncio.get_running_loop().create_task(self._tick(), name="controller tick")
        self.events.emit(
            "traffic",
            f"traffic {'enabled' if self.traffic.enabled else 'disabled'}: {self.traffic.message}",
            enabled=self.traffic.enabled,
            at_start=True,  # a new process: whatever an earlier one served ended before this
        )

    async def stop(self) -> None:
        """Stop the tick and the lease timer."""
        if self._lease_timer is not None:
            self._lease_timer.cancel()
        if self._tick_task is not None:
            self._tick_task.cancel()
            await asyncio.gather(self._tick_task, return_exceptions=True)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.reevaluate()
            except Exception:  # keep the loop alive; the next tick tries again
                log.exception("re-evaluation failed")

    def on_health_change(self, backend: Backend, healthy: bool, detail: str) -> None:
        """Monitor callback: record the transition and re-decide at once."""
        state = "up" if healthy else "down"
        self.events.emit(
            f"backend_{state}",
            f"backend {backend.name} is {state}: {detail}",
            backend=backend.name,
            healthy=healthy,
            detail=detail,
        )
        self.reevaluate()

    def health_snapshot(self) -> tuple[BackendHealth, ...]:
        """Current health of every backend as the monitor judges it."""
        statuses = self.monitor.statuses if self.monitor is not None else {}
        return tuple(
            BackendHealth(b.name, b.index, statuses[b.name].tracker.healthy if b.name in statuses else None)
            for b in self.config.backends
        )

    def request_traffic(
        self, *, enabled: bool | None, message: str | None, lease_seconds: float | None, preferred: str | None,
        lease_until: float | None = None,
    ) -> None:
        """Apply an API PATCH; raise ``TrafficError``/``ValueError`` (nothing applied) when invalid."""
        if preferred and self.config.backend(preferred) is None:
            names = ", ".join(b.name for b in self.config.backends)
            raise ValueError(f"preferredBackend {preferred!r} is not a backend (known: {names})")
        new_state = traffic.request(
            self.traffic, self.clock(), enabled=enabled, message=message, lease_seconds=lease_seconds,
            lease_until=lease_until,
        )
        if preferred is not None:
            self.preferred = preferred or None
            self.events.emit(
                "preferred", f"preferred backend set to {self.preferred}", preferred=self.preferred
            )
        # Choose the backend before traffic goes on, so enabling lands on the preferred node.
        self.reevaluate()
        self._set_traffic(new_state)
        self.reevaluate()

    def drain(self, reason: str) -> None:
        """Refuse new clients from now on; open sessions stay until ``finish_drain``."""
        if self.drain_started_at is None:
            self.drain_started_at = self.clock()
        self._set_traffic(traffic.drain(self.traffic, reason))
        self.reevaluate()

    def drain_deadline(self) -> float:
        """Monotonic time by which sessions left after a drain get severed."""
        start = self.drain_started_at if self.drain_started_at is not None else self.clock()
        return start + self.config.shutdown_delay_seconds

    def finish_drain(self) -> int:
        """Sever whatever is still open (end of the shutdown delay); return how many."""
        count = self.relay.sever()
        if count:
            self.events.emit(
                "sever",
                f"severed {count} sessions left at the end of the shutdown delay",
                severed=count,
                cause="shutdown",
            )
        return count

    def reevaluate(self) -> None:
        """One cycle: expire the lease, decide the active backend, act on the difference."""
        now = self.clock()
        self._set_traffic(traffic.evaluate(self.traffic, now))
        snapshot = SelectionSnapshot(self.health_snapshot(), self.active, self.preferred, self.started_at)
        decision = decide(snapshot, now, self._selection_config)
        if decision.preferred_consumed:
            self.preferred = None
        if decision.active != self.active:
            self._switch(decision.active, decision.reason)
        if decision.reason != self.verdict:
            log.info("selection: %s", decision.reason, extra={"fields": {"active": self.active}})
            self.verdict = decision.reason
        self._update_admission()

    def _switch(self, new: str | None, reason: str) -> None:
        old = self.active
        severed = self.relay.sever(old) if old is not None else 0
        self.active = new
        self.switches += 1
        if old is not None and new is not None:
            self.failovers += 1
        self.last_updated = time.time()
        self.events.emit(
            "switch",
            f"active backend {old} -> {new}: {reason}; severed {severed} sessions",
            previous=old,
            active=new,
            reason=reason,
            severed=severed,
            sessions={name: len(s) for name, s in self.relay.sessions.items() if s},
        )

    def _set_traffic(self, new: traffic.TrafficState) -> None:
        old = self.traffic
        if new == old:
            return
        self.traffic = new
        self._arm_lease_timer()
        if new.enabled == old.enabled and new.message == old.message:
            return  # lease renewal: not a state change worth a line
        self.last_updated = time.time()
        severed = 0
        if old.enabled and not new.enabled and not new.draining:
            severed = self.relay.sever()
        word = "enabled" if new.enabled else ("draining" if new.draining else "disabled")
        lease = f" (lease {new.lease_seconds:g} s)" if new.lease_seconds is not None else ""
        # A lease that ran out while the process was stopped is turned off only now, but the relay
        # refused every byte past the deadline (it checks it on admission and on every chunk): the
        # event says when serving really ended.
        expired = old.lease_expires_at if old.enabled and not new.enabled and old.lease_expires_at is not None \
            and old.lease_expires_at <= self.clock() else None
        self.events.emit(
            "traffic",
            f"traffic {word}{lease}: {new.message}; severed {severed} sessions",
            enabled=new.enabled,
            draining=new.draining,
            reason=new.message,
            lease_seconds=new.lease_seconds,
            severed=severed,
            **({"lease_expired_monotonic": expired} if expired is not None else {}),
        )
        self._update_admission()

    def _arm_lease_timer(self) -> None:
        if self._lease_timer is not None:
            self._lease_timer.cancel()
            self._lease_timer = None
        expires = self.traffic.lease_expires_at
        if self.traffic.enabled and expires is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (pure unit use): the next reevaluate() expires the lease
            self._lease_timer = loop.call_later(max(0.0, expires - self.clock()) + 0.001, self.reevaluate)

    def _update_admission(self) -> None:
        backend = self.config.backend(self.active) if self.active else None
        self.relay.lease_deadline = self.traffic.lease_expires_at if self.traffic.enabled else None
        if self.traffic.enabled and backend is not None:
            self.relay.target = backend
        else:
            self.relay.target = None
            self.relay.refusal = self._refusal()

    def _refusal(self) -> bytes:
        name = self.config.instance_name
        if self.traffic.draining:
            text = f"{name} is shutting down: {self.traffic.message}"
        elif not self.traffic.enabled:
            text = f"{name} is standby: traffic disabled: {self.traffic.message}"
        elif self.active is None:
            text = f"{name} has no healthy backend: {self.verdict}"
        else:
            text = f"{name} is not serving"
        return err_packet(ER_UNKNOWN_ERROR, text)

    def view(self) -> ClusterView:
        """Snapshot for the API and /health."""
        self.relay.lease_valid()  # an overdue lease expires now, before anything is reported
        now = self.clock()
        expires = self.traffic.lease_expires_at
        active = self.config.backend(self.active) if self.active else None
        return ClusterView(
            active=active,
            traffic=self.traffic,
            preferred=self.preferred,
            verdict=self.verdict,
            last_updated=self.last_updated,
            lease_remaining=max(0.0, expires - now) if expires is not None and self.traffic.enabled else None,
            serving=self.relay.target is not None,
        )
