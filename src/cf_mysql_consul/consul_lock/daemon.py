"""The consul-lock process: observe -> decide -> act, once per cycle, plus a blocking watch.

The main thread runs the cycles (every ``Decision.delay``, or at once when the watch sees the
key change hands or a step-down is asked for). A second thread only keeps a blocking read on the
key open (``consistent`` while this job holds it), notes when each ModifyIndex of the key was
first received (rule 5 of ``timing``) and wakes the main thread when the holder changes. The
peer API's threads answer failsafe requests from a holder (``Promises``, under its guard).
Nothing but the main thread talks to the proxy or changes the lock. Every choice is made by
``decide`` (and the small pure helpers beside it); this module only does the I/O.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cf_mysql_consul.consul_lock.audit import AuditLog
from cf_mysql_consul.consul_lock.config import LockConfig
from cf_mysql_consul.consul_lock.consul_adapter import ConsulLock, ConsulUnavailable, SessionGone
from cf_mysql_consul.consul_lock.decide import (
    Action,
    Decision,
    KeyView,
    ProxyState,
    Snapshot,
    armed,
    decide,
    holding,
    needs_peers,
    promise_refusal,
    proves,
    rejoin_due,
    servers_to_rejoin,
    session_renewal_due,
    wants_backends,
    wants_holder_liveness,
    watch_wakes,
)
from cf_mysql_consul.consul_lock.failsafe import PeerClient, Promises, Round
from cf_mysql_consul.consul_lock.metrics import LockMetrics
from cf_mysql_consul.consul_lock.peer_api import PeerApi
from cf_mysql_consul.consul_lock.proxy_adapter import ProxyControl, ProxyDraining, ProxyError, ProxyGone

log = logging.getLogger(__name__)
WATCH_WAIT_SECONDS = 5.0


@dataclass(slots=True)
class Memory:
    """What the daemon remembers between cycles (the decision itself keeps nothing)."""

    session: str | None = None
    session_ok_at: float | None = None
    session_created_at: float | None = None
    heartbeat_ok_at: float | None = None
    active: bool = False
    failsafe: bool = False  # the last lease rests on the peers' promises
    lease_ok_at: float | None = None
    last_acquire_at: float | None = None
    racing: bool = False  # an acquire is in flight (guarded by Promises.guard)
    lock_index: int | None = None
    predecessor: dict[str, Any] | None = None
    backend: str | None = None
    step_down: str | None = None
    graceful: bool = False
    stepped_down: bool = False
    key: KeyView | None = None
    proof_at: float | None = None  # send time of the last proof write that succeeded
    key_seen: tuple[int, float] | None = None  # (ModifyIndex, when first received), under LockDaemon.seen_guard
    registered: bool = False
    servers_failing: bool = False  # the last server call failed: resync the agent's checks once they answer
    node: str | None = None  # this agent's Consul node name (recorded in the key)
    snapshot: Snapshot | None = None


class LockDaemon:
    """One consul-lock process."""

    def __init__(self, config: LockConfig) -> None:
        self.config = config
        t = config.timing
        self.consul = ConsulLock(config.consul_address, config.consul_port, timeout=t.consul_timeout_seconds)
        self.watch_consul = ConsulLock(config.consul_address, config.consul_port, timeout=t.consul_timeout_seconds)
        self.join_consul = ConsulLock(config.consul_address, config.consul_port, timeout=t.consul_timeout_seconds)
        self.proxy = ProxyControl(config.proxy, timeout=t.proxy_timeout_seconds)
        self.audit = AuditLog(config.audit_log_path, config.instance_name)
        self.peers = PeerClient(config.peers, username=config.peer_api_username, password=config.peer_api_password,
                                timeout=t.peer_timeout_seconds)
        self.promises = Promises(config.promise_path, t.failsafe_ttl_seconds)
        self.metrics = LockMetrics()
        self.peer_api = PeerApi(config.address, config.peer_api_port, username=config.peer_api_username,
                                password=config.peer_api_password, answer=self.answer_failsafe,
                                ttl=t.failsafe_ttl_seconds, metrics=self.metrics.render)
        self.memory = Memory()
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.verdict = ""
        self._watch_index = 0
        self._promised_to: str | None = None
        self._last_round = ""
        self._rejoin_at: float | None = None
        self._rejoining = threading.Lock()
        self.seen_guard = threading.Lock()

    # ---- entry points ----------------------------------------------------------------------
    def request_step_down(self, reason: str, *, drain: bool) -> None:
        """Ask for a step-down (signal handlers call this; the main loop acts).

        ``drain`` (bin/drain: the proxy stops next) hands over with ``POST /v0/drain`` so open
        sessions may finish; otherwise (SIGTERM of this job alone) traffic is disabled outright.
        """
        if self.memory.step_down is None:
            self.memory.step_down = reason
            self.memory.graceful = drain
        self.wake.set()

    def run(self) -> None:
        """Cycle until ``stop`` is set; then step down (if not yet) and clean up."""
        os.makedirs(self.config.run_dir, exist_ok=True)
        with open(self.config.pid_path, "w") as f:
            f.write(str(os.getpid()))
        self._event("started", f"started (pid {os.getpid()}, key {self.config.key}, "
                               f"peers {', '.join(p.name for p in self.config.peers) or 'none'})")
        if self.promises.active(time.monotonic()):
            self._event("promise_kept", f"keeping the promise to {self.promises.holder} made before this restart")
        self._clear_stale_sessions()
        self.peer_api.start()
        watcher = threading.Thread(target=self._watch, name="key watch", daemon=True)
        watcher.start()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                decision = self.cycle()
            except Exception:  # one bad cycle must not end leadership handling; next cycle retries
                log.exception("cycle failed")
                decision = Decision(Action.NOTHING, "cycle failed", delay=self.config.timing.renew_interval_seconds)
            assert decision.delay is not None
            self.wake.wait(max(0.0, decision.delay - (time.monotonic() - started)))
            self.wake.clear()
        self.shutdown()

    def shutdown(self) -> None:
        """Final graceful step-down and deregistration (SIGTERM path)."""
        if not self.memory.stepped_down:
            self.memory.step_down = self.memory.step_down or "process stopping (SIGTERM)"
            self._step_down()
        try:
            self.consul.deregister(service_id=self.config.service_id,
                                   check_ids=(self.config.live_check_id, self.config.heartbeat_check_id))
        except ConsulUnavailable as exc:
            log.warning("could not deregister: %s", exc)
        self.peer_api.stop()
        self._event("stopped", "stopped")

    def answer_failsafe(self, holder: str, lock_index: int | None) -> str | None:
        """A peer holder asks for a failsafe promise (peer API thread): None when promised."""
        def refusal() -> str | None:
            m = self.memory
            if m.step_down is not None:
                return None  # stepping down: never races again, so the promise costs nothing
            return promise_refusal(active=m.active, holding=self._holds_key(), racing=m.racing)
        why = self.promises.give(holder, refusal)
        self.metrics.promises.labels(answer="refused" if why else "given").inc()
        if why is None and self._promised_to != holder:
            self._promised_to = holder
            self._event("promise", f"promised {holder} (LockIndex {lock_index}) not to take over: it serves "
                                   f"cut off from Consul")
        elif why is not None:
            log.info("refused a failsafe promise to %s: %s", holder, why)
        return why

    # ---- one cycle ----------------------------------------------------------------------------
    def cycle(self) -> Decision:
        """Observe, decide, act; return the decision."""
        snapshot = self.observe()
        now = time.monotonic()
        if rejoin_due(snapshot, last_rejoin_at=self._rejoin_at, now=now, t=self.config.timing):
            self._rejoin_at = now
            threading.Thread(target=self._rejoin_servers, name="rejoin", daemon=True).start()
        decision = decide(snapshot, now, self.config.timing)
        if decision.action is not Action.RENEW_LEASE and decision.reason != self.verdict:  # quiet steady state
            log.info("%s: %s", decision.action.value, decision.reason)
            self.verdict = decision.reason
        self.act(decision, snapshot)
        self._update_metrics(snapshot)
        self._write_state(decision, snapshot)
        return decision

    def observe(self) -> Snapshot:
        """Heartbeat, renew the session when due, read the key, ask the proxy; then, only when the
        decision will need it, the peers (failsafe), the proxy's backends, the recorded holder's node."""
        m, t, c = self.memory, self.config.timing, self.config
        error: str | None = None
        key_ok = agent_ok = False
        try:
            if not m.registered:
                self.consul.register(
                    **self._service(), live_check_id=c.live_check_id, live_url=self.proxy.live_url,
                    heartbeat_check_id=c.heartbeat_check_id, heartbeat_ttl=t.heartbeat_ttl_seconds)
                m.registered = True
            sent = time.monotonic()
            self.consul.heartbeat(c.heartbeat_check_id)
            m.heartbeat_ok_at, agent_ok = sent, True
            if session_renewal_due(session=m.session, session_ok_at=m.session_ok_at, active=m.active,
                                   holding=self._holds_key(), now=sent, t=t):
                assert m.session is not None
                sent = time.monotonic()
                try:
                    self.consul.renew(m.session)
                    m.session_ok_at = sent
                except SessionGone:
                    self._event("session_lost", f"session {m.session[:8]} is gone (invalidated)")
                    m.session, m.session_ok_at, m.session_created_at = None, None, None
            self._observe_key()
            key_ok = True
            if m.node is None:
                m.node = self.consul.node_name()
        except ConsulUnavailable as exc:
            error = str(exc)
        self._servers_answered(error is None)
        state, detail, cluster = self.proxy.state()
        if cluster is not None and cluster.get("activeBackend"):
            m.backend = cluster["activeBackend"]["name"]
        with self.promises.guard:
            promised_until, promised_to = self.promises.until, self.promises.holder
        s = Snapshot(
            session=m.session, session_ok_at=m.session_ok_at, heartbeat_ok_at=m.heartbeat_ok_at, key=m.key,
            key_ok=key_ok, consul_error=error, proxy=state, proxy_detail=detail, active=m.active,
            lease_ok_at=m.lease_ok_at, last_acquire_at=m.last_acquire_at, step_down=m.step_down,
            stepped_down=m.stepped_down, me=c.instance_name, agent_ok=agent_ok, proof_at=m.proof_at,
            key_seen_at=self._seen_at(m.key),
            promised_until=promised_until, promised_to=promised_to, backend=m.backend,
            predecessor_backend=(m.predecessor or {}).get("backend"),
        )
        return self._complete(s)

    def _observe_key(self) -> None:
        """This cycle's view of the key: a proof write while the last view shows this job holding it
        (retried once when the key changed by this job's own write), else a consistent read."""
        m, c = self.memory, self.config
        if not self._holds_key():
            self._read_key()
            return
        for _ in range(2):
            assert m.session is not None and m.key is not None
            sent = time.monotonic()
            proof = self.consul.prove(c.key, m.session, m.key.modify_index, self._value())
            if proof is not None:
                m.key, m.proof_at = proof, sent
                self._note_seen(proof)
                return
            self._read_key()
            if not self._holds_key():
                self._event("proof_failed", f"the key is no longer held by this job's session: {_describe(m.key)}")
                return
        # Still ours, but its index moved twice under this job's own writes: no fresh proof this
        # cycle, so a lease granted now ends by the previous one (lease_end).

    def _read_key(self) -> None:
        """A consistent read of the key into memory, noting when its ModifyIndex was first seen."""
        _, self.memory.key = self.consul.read_key(self.config.key, consistent=True)
        self._note_seen(self.memory.key)

    def _note_seen(self, key: KeyView | None) -> None:
        """Remember when this ModifyIndex of the key was first received (just after a read returned it)."""
        received = time.monotonic()
        with self.seen_guard:
            if key is None:
                self.memory.key_seen = None
            elif self.memory.key_seen is None or self.memory.key_seen[0] != key.modify_index:
                self.memory.key_seen = (key.modify_index, received)

    def _seen_at(self, key: KeyView | None) -> float | None:
        """When the ModifyIndex of ``key`` was first received, if that is the index last noted."""
        with self.seen_guard:
            seen = self.memory.key_seen
        return seen[1] if seen is not None and key is not None and seen[0] == key.modify_index else None

    def _complete(self, s: Snapshot) -> Snapshot:
        """Add what only some decisions need, asking only when they will need it."""
        now = time.monotonic()
        if needs_peers(s, now, self.config.timing):
            round_ = self.peers.ask(holder=self.config.instance_name, lock_index=self.memory.lock_index)
            self.metrics.failsafe_rounds.labels(outcome="accepted" if round_.ok else "refused").inc()
            s = replace(s, failsafe_ok_at=round_.sent if round_.ok else None, failsafe_detail=round_.describe())
            self._log_round(round_)
        if wants_backends(s):
            s = replace(s, healthy_backends=frozenset(self.proxy.healthy_backends()))
        if wants_holder_liveness(s):
            node = (s.key.value or {}).get("node") if s.key is not None else None
            alive: bool | None = None
            if node:
                try:
                    alive = self.consul.node_alive(str(node))
                except ConsulUnavailable:
                    alive = None
            s = replace(s, recorded_holder_alive=alive)
        self.memory.snapshot = s
        return s

    def act(self, d: Decision, s: Snapshot) -> None:
        """Carry out one decision (and, under failsafe, its restoring step)."""
        self._do(d.action, d, s)
        if d.then is not None:
            self._do(d.then, d, s)

    def _do(self, action: Action, d: Decision, s: Snapshot) -> None:
        m = self.memory
        if action is Action.DEACTIVATE:
            self._disable(d.reason)
        elif action is Action.STEP_DOWN:
            self._step_down()
        elif action is Action.RELEASE:
            self._disable(d.reason)
            self._release(d.reason)
        elif action is Action.CREATE_SESSION:
            self._create_session()
        elif action is Action.ACQUIRE:
            self._acquire(s)
        elif action is Action.UNSEAT:
            self._unseat(d, s)
        elif action is Action.ACTIVATE:
            self._activate(d, s)
        elif action is Action.RENEW_LEASE:
            assert d.lease_until is not None
            how = "on every peer's promise" if d.failsafe else f"by consul-lock (LockIndex {m.lock_index})"
            self._grant_lease(f"lease renewed {how}", lease_until=d.lease_until, failsafe=d.failsafe)

    # ---- actions --------------------------------------------------------------------------------
    def _holds_key(self) -> bool:
        return proves(session=self.memory.session, key=self.memory.key)

    def _value(self, **extra: Any) -> dict[str, Any]:
        c, m = self.config, self.memory
        return {"proxy": c.instance_name, "address": c.proxy.address, "port": c.proxy.port, "backend": m.backend,
                "lock_index": m.lock_index, "session": m.session, "host": socket.gethostname(), "node": m.node,
                "peers": sorted([c.instance_name, *(p.name for p in c.peers)]),
                "updated": datetime.now(UTC).isoformat(timespec="milliseconds"), **extra}

    def _create_session(self) -> None:
        m, c, t = self.memory, self.config, self.config.timing
        try:
            sent = time.monotonic()
            # Not tied to the proxy's /live check: this job sees a dead or hung proxy within a
            # cycle and releases with no lock-delay, while a session invalidated by /live first
            # adds lock_delay_seconds to the handover (bench.lock: 2 of 5 proxy SIGKILLs took
            # 5.8-6.9 s instead of 1.6 s). A dead or hung consul-lock is the heartbeat's job.
            m.session = self.consul.create_session(
                name=f"consul-lock {c.instance_name}", checks=["serfHealth", c.heartbeat_check_id],
                ttl=t.session_ttl_seconds, lock_delay=t.lock_delay_seconds)
            m.session_ok_at = m.session_created_at = sent
            self._event("session", f"created session {m.session[:8]}")
            self.wake.set()  # race at once instead of one renew interval later
        except ConsulUnavailable as exc:
            log.info("cannot create a session yet: %s", exc)
            if "critical state" in str(exc):
                # The catalog holds a stale status of a check this agent passes (a sync that failed
                # while the servers were unreachable is not retried for 1-2 minutes): register anew.
                self._resync("session refused on a stale critical check")

    def _acquire(self, s: Snapshot) -> None:
        m, c = self.memory, self.config
        assert m.session is not None
        with self.promises.guard:
            if not m.active and self.promises.active(time.monotonic()):
                return  # a promise arrived after the snapshot: keep it
            m.racing = True
        predecessor = s.key.value if s.key is not None else None
        m.last_acquire_at = time.monotonic()
        try:
            won = self.consul.acquire(c.key, m.session, self._value(lock_index=None))
            key = self.consul.read_key(c.key, consistent=True)[1] if won else None
        except ConsulUnavailable as exc:
            log.info("acquire failed: %s", exc)
            won, key = False, None
        finally:
            with self.promises.guard:
                if key is not None:
                    m.key = key
                m.racing = False
        if not won:
            return
        m.lock_index = key.lock_index if key is not None else None
        if not m.active:
            m.predecessor = predecessor
        self._event("acquire", f"acquired {c.key} (LockIndex {m.lock_index}); predecessor "
                    f"{(predecessor or {}).get('proxy')} on {(predecessor or {}).get('backend')}")
        self.wake.set()  # the next cycle (at once) renews, re-reads and decides to activate

    def _unseat(self, d: Decision, s: Snapshot) -> None:
        """Release a stale holder's session from the key, if nobody wrote the key since this job
        first saw its ModifyIndex (rule 5 of ``timing``); racing, so no promise is given meanwhile."""
        m, c = self.memory, self.config
        assert s.key is not None and s.key.session is not None
        with self.promises.guard:
            if self.promises.active(time.monotonic()):
                return  # a promise arrived after the snapshot: keep it
            m.racing = True
        value = {**(s.key.value or {}), "released": f"unseated by {c.instance_name}: {d.reason}"}
        try:
            released = self.consul.unseat(c.key, s.key.session, s.key.modify_index, value)
        except ConsulUnavailable as exc:
            log.info("unseat failed: %s", exc)
            released = False
        finally:
            with self.promises.guard:
                m.racing = False
        if released:
            self._event("unseat", f"released {_describe(s.key)} from {c.key}: {d.reason}")
            m.last_acquire_at = None
            self.wake.set()  # race for the key at once

    def _activate(self, d: Decision, s: Snapshot) -> None:
        m, c = self.memory, self.config
        if s.key is not None:
            m.lock_index = s.key.lock_index
        assert d.lease_until is not None
        with self.promises.guard:
            if self.promises.active(time.monotonic()):
                return  # promised a peer not to take over: it may still be serving
        if not self._grant_lease(f"enabled by consul-lock: holds {c.key} (LockIndex {m.lock_index})",
                                 lease_until=d.lease_until, preferred=d.preferred, first=True):
            return
        m.predecessor = None  # the next proof write records this job's backend in the key
        try:
            marked = self.consul.mark_others_critical(
                service_name=c.service_name, own_service_id=c.service_id,
                note=f"{c.instance_name} took over (LockIndex {m.lock_index})")
            if marked:
                self._event("dns", f"took {', '.join(marked)} out of DNS (its agent may not reach the servers)")
        except ConsulUnavailable as exc:
            log.warning("could not take the previous holder out of DNS: %s", exc)

    def _grant_lease(self, message: str, *, lease_until: float, preferred: str | None = None, first: bool = False,
                     failsafe: bool = False) -> bool:
        """Enable (or keep enabled) the proxy's traffic with a fresh lease; False when refused."""
        m, t = self.memory, self.config.timing
        sent = time.monotonic()
        try:
            cluster = self.proxy.enable(lease_seconds=t.lease_seconds, message=message, preferred=preferred,
                                        lease_until=lease_until)
        except ProxyDraining:
            self.metrics.lease_refusals.inc()
            self._release("proxy refused to enable: draining for shutdown")
            return False
        except ProxyError as exc:
            self.metrics.lease_refusals.inc()
            log.warning("lease grant failed: %s", exc)
            return False
        self.metrics.lease_grants.inc()
        m.lease_ok_at = sent
        if cluster.get("activeBackend"):
            m.backend = cluster["activeBackend"]["name"]
        if failsafe != m.failsafe:
            m.failsafe = failsafe
            self._event("failsafe" if failsafe else "failsafe_over",
                        "serving on every peer's promise: Consul cannot prove the lock" if failsafe
                        else f"the lock is proven through Consul again (LockIndex {m.lock_index})")
        if not m.active or first:
            m.active = True
            self._event("activate", message, backend=m.backend, preferred=preferred)
            if cluster.get("activeBackend"):  # /health answers 200 only with a backend to serve from
                self._announce("passing")
        return True

    def _disable(self, reason: str) -> None:
        """Traffic off FIRST (best effort: a dead proxy serves nothing, a hung one runs out of lease)."""
        m = self.memory
        gone = False
        try:
            self.proxy.disable(f"disabled by consul-lock: {reason}")
            outcome = "traffic disabled"
        except ProxyGone:
            outcome, gone = "proxy gone", True
        except ProxyError as exc:
            outcome = f"disable failed ({exc}); the lease runs out by itself"
        if m.active:
            # proxy_gone: its API refused connections, so no proxy process was serving by now.
            self._deactivated(f"{reason} ({outcome})", proxy_gone=gone)
        m.active, m.failsafe = False, False
        m.lease_ok_at = None

    def _deactivated(self, message: str, **fields: Any) -> None:
        """Log the deactivation and take the service out of DNS at once."""
        self._event("deactivate", message, **fields)
        self._announce("critical")

    def _service(self) -> dict[str, Any]:
        """The service registration: this proxy, its /health check and the check's interval."""
        c = self.config
        return {"service_id": c.service_id, "service_name": c.service_name, "address": c.proxy.address,
                "port": c.proxy.port, "health_url": self.proxy.health_url, "interval": c.check_interval_seconds}

    def _announce(self, status: str) -> None:
        """Set the service's /health check to ``status`` now rather than at its next run (best
        effort: the check itself catches up within ``check_interval_seconds``)."""
        try:
            self.consul.register_service(**self._service(), status=status)
        except ConsulUnavailable as exc:
            log.info("could not set the service's health to %s: %s", status, exc)

    def _servers_answered(self, ok: bool) -> None:
        """Track server outages; once the servers answer again, put the catalog right at once."""
        m = self.memory
        if not ok:
            self.metrics.consul_errors.inc()
            m.servers_failing = True
        elif m.servers_failing:
            m.servers_failing = False
            self._resync("the Consul servers answer again")

    def _rejoin_servers(self) -> None:
        """Ask the local agent to join every server it lists as failed (rejoin thread; one pass at a
        time, each call bounded by the Consul timeout: the agent goes on trying after it)."""
        if not self._rejoining.acquire(blocking=False):
            return
        try:
            for address in servers_to_rejoin(self.join_consul.members()):
                try:
                    self.join_consul.join(address)
                except ConsulUnavailable as exc:
                    log.debug("join %s: %s", address, exc)
                    continue
                self._event("rejoin", f"the local agent joined the Consul server at {address} again")
                break  # one push-pull merges the whole membership
        except ConsulUnavailable as exc:
            log.debug("agent members: %s", exc)
        finally:
            self._rejoining.release()

    def _resync(self, why: str) -> None:
        """Register the heartbeat check and the service anew, with the status this job stands for: an
        agent syncs a registration at once, while a status change whose sync failed waits for the
        periodic full sync (1-2 minutes), during which sessions are refused and DNS is stale."""
        c, t = self.config, self.config.timing
        try:
            self.consul.register_heartbeat(service_id=c.service_id, check_id=c.heartbeat_check_id,
                                           ttl=t.heartbeat_ttl_seconds)
            self.consul.register_service(**self._service(), status="passing" if self.memory.active else "critical")
            self._event("resync", f"registered the heartbeat check and the service anew: {why}")
        except ConsulUnavailable as exc:
            log.info("resync failed (%s): %s", why, exc)

    def _release(self, reason: str) -> None:
        """Give the key up (no lock-delay) and destroy the session."""
        m, c = self.memory, self.config
        if m.active:
            self._disable(reason)
        if m.session is None:
            return
        try:
            self.consul.release(c.key, m.session, self._value(released=reason))
        except ConsulUnavailable as exc:
            log.warning("release failed: %s", exc)
        try:
            self.consul.destroy(m.session)
        except ConsulUnavailable as exc:
            log.warning("destroy failed: %s", exc)
        self._event("release", f"released {c.key} and destroyed session: {reason}")
        m.session, m.session_ok_at, m.session_created_at, m.key = None, None, None, None

    def _step_down(self) -> None:
        """Disable traffic (``POST /v0/drain`` on a BOSH drain, else PATCH), release, destroy."""
        m = self.memory
        reason = m.step_down or "stepping down"
        drained = False
        if m.graceful:
            try:
                self.proxy.drain(f"consul-lock handing over ({reason})")
                drained = True
                if m.active:
                    self._deactivated(f"{reason} (proxy draining)")
                m.active, m.failsafe, m.lease_ok_at = False, False, None
            except ProxyError as exc:
                log.warning("proxy drain call failed (%s): disabling instead", exc)
        if not drained:
            self._disable(reason)
        self._release(reason)
        m.stepped_down = True
        self._event("step_down", f"stepped down: {reason}")

    def _clear_stale_sessions(self) -> None:
        """At start: a previous process of this job may have left a session holding the key.

        Traffic off FIRST (that process's lease may still run). Once the proxy confirmed it (or is
        not running), nothing serves on that session, so release the key it holds (no lock-delay:
        the standby takes over at once) and destroy the sessions.
        """
        try:
            self.proxy.disable("consul-lock (re)started: standby until it holds the lock")
        except ProxyGone:
            pass
        except ProxyError as exc:
            log.warning("cannot reach the proxy at start (%s): leaving stale sessions to expire", exc)
            return
        name = f"consul-lock {self.config.instance_name}"
        try:
            _, sessions = self.consul.client.session.list()
            for sess in sessions or []:
                if sess.get("Name") == name:
                    _, key = self.consul.read_key(self.config.key, consistent=True)
                    if key is not None and key.session == sess["ID"]:
                        self.consul.release(self.config.key, sess["ID"], {
                            **(key.value or {}), "released": "consul-lock restarted; its proxy was disabled"})
                        self._event("release", f"released {self.config.key} held by the session "
                                               f"{sess['ID'][:8]} of a previous process")
                    self.consul.destroy(sess["ID"])
                    self._event("stale_session", f"destroyed session {sess['ID'][:8]} of a previous process")
        except Exception as exc:  # best effort: TTL expiry cleans up anyway
            log.warning("could not clear stale sessions: %s", exc)

    # ---- watch, state, log --------------------------------------------------------------------
    def _watch(self) -> None:
        """Keep a blocking read on the key open; note each new ModifyIndex; wake the main loop when
        the holder changes (a holder's proof writes change the index every cycle and wake nobody)."""
        last: KeyView | None = None
        while not self.stop.is_set():
            m = self.memory
            consistent = m.active or self._holds_key()
            try:
                index, key = self.watch_consul.watch_key(self.config.key, self._watch_index,
                                                         wait=WATCH_WAIT_SECONDS, consistent=consistent)
            except ConsulUnavailable:
                self.stop.wait(0.5)
                continue
            if index != self._watch_index:
                if index < self._watch_index:
                    index = 0
                self._watch_index = index
                self._note_seen(key)
                if watch_wakes(last, key):
                    self.wake.set()
                last = key

    def _log_round(self, r: Round) -> None:
        """Log a peer round when its outcome or its refusals change (one line, not one per cycle)."""
        summary = r.describe()
        if summary != self._last_round:
            log.info("failsafe round: %s", summary)
            self._last_round = summary

    def _event(self, event: str, reason: str, **fields: Any) -> None:
        m = self.memory
        if event in ("activate", "deactivate", "release", "acquire", "unseat"):
            self.metrics.handovers.labels(event=event).inc()
        entry = self.audit.write(event, reason, lock_index=m.lock_index, session=m.session, **fields)
        log.info("%s: %s", event, reason, extra={"fields": entry})

    def _update_metrics(self, s: Snapshot) -> None:
        m, mx = self.memory, self.metrics
        mx.active.set(1 if m.active else 0)
        mx.failsafe.set(1 if m.failsafe else 0)
        mx.armed.set(1 if armed(s) else 0)
        mx.session_age.set(time.monotonic() - m.session_created_at if m.session_created_at is not None else 0)

    def _write_state(self, d: Decision, s: Snapshot) -> None:
        m = self.memory
        now = time.monotonic()
        state = {"pid": os.getpid(), "active": m.active, "failsafe": m.failsafe, "armed": armed(s),
                 "holding": holding(s), "session": m.session, "lock_index": m.lock_index, "backend": m.backend,
                 "stepped_down": m.stepped_down, "action": d.action.value, "reason": d.reason,
                 "promised_to": s.promised_to if s.promised_until is not None and now < s.promised_until else None,
                 "monotonic": now}
        tmp = self.config.state_path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(state, f)
            os.replace(tmp, self.config.state_path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.config.state_path, exc)


def _describe(key: KeyView | None) -> str:
    """The key's holder in a log line."""
    if key is None:
        return "the key is absent"
    if key.session is None:
        return f"the key is free (ModifyIndex {key.modify_index})"
    return (f"{(key.value or {}).get('proxy', 'unknown')}'s session {key.session[:8]} "
            f"(LockIndex {key.lock_index}, ModifyIndex {key.modify_index})")


__all__ = ["LockDaemon", "ProxyState"]
