"""The consul-lock process: observe -> decide -> act, once per cycle, plus a blocking watch.

The main thread runs the cycles (every ``renew_interval``, or at once when the watch sees the
key change or a step-down is asked for). A second thread only keeps a blocking read on the
key open (``consistent`` while this job holds it) and wakes the main thread on any change.
Nothing but the main thread talks to the proxy or changes state.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cf_mysql_consul.consul_lock.audit import AuditLog
from cf_mysql_consul.consul_lock.config import LockConfig
from cf_mysql_consul.consul_lock.consul_adapter import ConsulLock, ConsulUnavailable, SessionGone
from cf_mysql_consul.consul_lock.decide import (
    ACQUIRE_RETRY_SECONDS,
    Action,
    Decision,
    KeyView,
    ProxyState,
    Snapshot,
    decide,
)
from cf_mysql_consul.consul_lock.proxy_adapter import ProxyControl, ProxyDraining, ProxyError, ProxyGone
from cf_mysql_consul.consul_lock.timing import lease_end

log = logging.getLogger(__name__)
WATCH_WAIT_SECONDS = 5.0


@dataclass(slots=True)
class Memory:
    """What the daemon remembers between cycles (the decision itself keeps nothing)."""

    session: str | None = None
    session_ok_at: float | None = None
    heartbeat_ok_at: float | None = None
    active: bool = False
    lease_ok_at: float | None = None
    last_acquire_at: float | None = None
    lock_index: int | None = None
    predecessor: dict[str, Any] | None = None
    backend: str | None = None
    step_down: str | None = None
    graceful: bool = False
    stepped_down: bool = False
    key: KeyView | None = None
    key_read_at: float | None = None  # send time of the last consistent read that succeeded
    registered: bool = False


class LockDaemon:
    """One consul-lock process."""

    def __init__(self, config: LockConfig) -> None:
        self.config = config
        t = config.timing
        self.consul = ConsulLock(config.consul_address, config.consul_port, timeout=t.consul_timeout_seconds)
        self.watch_consul = ConsulLock(config.consul_address, config.consul_port, timeout=t.consul_timeout_seconds)
        self.proxy = ProxyControl(config.proxy, timeout=t.proxy_timeout_seconds)
        self.audit = AuditLog(config.audit_log_path, config.instance_name)
        self.memory = Memory()
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.verdict = ""
        self._watch_index = 0

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

    def run(self, *, exit_after_step_down: threading.Event | None = None) -> None:
        """Cycle until ``stop`` is set; then step down (if not yet) and clean up."""
        os.makedirs(self.config.run_dir, exist_ok=True)
        with open(self.config.pid_path, "w") as f:
            f.write(str(os.getpid()))
        self._event("started", f"started (pid {os.getpid()}, key {self.config.key})")
        self._clear_stale_sessions()
        watcher = threading.Thread(target=self._watch, name="key watch", daemon=True)
        watcher.start()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                decision = self.cycle()
            except Exception:  # one bad cycle must not end leadership handling; next cycle retries
                log.exception("cycle failed")
                decision = Decision(Action.NOTHING, "cycle failed")
            delay = self.config.timing.renew_interval_seconds
            if decision.action is Action.ACQUIRE or "racing again" in decision.reason:
                delay = ACQUIRE_RETRY_SECONDS
            self.wake.wait(max(0.0, delay - (time.monotonic() - started)))
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
        self._event("stopped", "stopped")

    # ---- one cycle ----------------------------------------------------------------------------
    def cycle(self) -> Decision:
        """Observe, decide, act; return the decision."""
        snapshot = self.observe()
        now = time.monotonic()
        decision = decide(snapshot, now, self.config.timing)
        if decision.action is not Action.RENEW_LEASE and decision.reason != self.verdict:  # quiet steady state
            log.info("%s: %s", decision.action.value, decision.reason)
            self.verdict = decision.reason
        self.act(decision, snapshot)
        self._write_state(decision)
        return decision

    def observe(self) -> Snapshot:
        """Heartbeat, renew the session when holding or due, read the key, ask the proxy."""
        m, t, c = self.memory, self.config.timing, self.config
        error: str | None = None
        try:
            if not m.registered:
                self.consul.register(
                    **self._service(), live_check_id=c.live_check_id, live_url=self.proxy.live_url,
                    heartbeat_check_id=c.heartbeat_check_id, heartbeat_ttl=t.heartbeat_ttl_seconds)
                m.registered = True
            sent = time.monotonic()
            self.consul.heartbeat(c.heartbeat_check_id)
            m.heartbeat_ok_at = sent
            holding = m.key is not None and m.session is not None and m.key.session == m.session
            if m.session is not None and (m.active or holding or m.session_ok_at is None
                                          or sent - m.session_ok_at >= t.session_ttl_seconds / 2):
                sent = time.monotonic()
                try:
                    self.consul.renew(m.session)
                    m.session_ok_at = sent
                except SessionGone:
                    self._event("session_lost", f"session {m.session[:8]} is gone (invalidated)")
                    m.session, m.session_ok_at = None, None
        except ConsulUnavailable as exc:
            error = str(exc)
        key_ok = False
        if error is None:
            try:
                sent = time.monotonic()
                _, m.key = self.consul.read_key(c.key, consistent=True)
                m.key_read_at, key_ok = sent, True
            except ConsulUnavailable as exc:
                error = str(exc)
        state, detail, cluster = self.proxy.state()
        if cluster is not None and cluster.get("activeBackend"):
            m.backend = cluster["activeBackend"]["name"]
        return Snapshot(
            session=m.session, session_ok_at=m.session_ok_at, heartbeat_ok_at=m.heartbeat_ok_at, key=m.key,
            key_ok=key_ok, consul_error=error, proxy=state, proxy_detail=detail, active=m.active,
            lease_ok_at=m.lease_ok_at, last_acquire_at=m.last_acquire_at, step_down=m.step_down,
            stepped_down=m.stepped_down,
        )

    def act(self, d: Decision, s: Snapshot) -> None:
        """Carry out one decision."""
        m, c, t = self.memory, self.config, self.config.timing
        if d.action is Action.DEACTIVATE:
            self._disable(d.reason)
        elif d.action is Action.STEP_DOWN:
            self._step_down()
        elif d.action is Action.RELEASE:
            self._disable(d.reason)
            self._release(d.reason)
        elif d.action is Action.CREATE_SESSION:
            try:
                sent = time.monotonic()
                # Not tied to the proxy's /live check: this job sees a dead or hung proxy within a
                # cycle and releases with no lock-delay, while a session invalidated by /live first
                # adds lock_delay_seconds to the handover (bench.lock: 2 of 5 proxy SIGKILLs took
                # 5.8-6.9 s instead of 1.6 s). A dead or hung consul-lock is the heartbeat's job.
                m.session = self.consul.create_session(
                    name=f"consul-lock {c.instance_name}", checks=["serfHealth", c.heartbeat_check_id],
                    ttl=t.session_ttl_seconds, lock_delay=t.lock_delay_seconds)
                m.session_ok_at = sent
                self._event("session", f"created session {m.session[:8]}")
                self.wake.set()  # race at once instead of one renew interval later
            except ConsulUnavailable as exc:
                log.info("cannot create a session yet: %s", exc)
        elif d.action is Action.ACQUIRE:
            self._acquire(s)
        elif d.action is Action.ACTIVATE:
            self._activate(s)
        elif d.action is Action.RENEW_LEASE:
            self._grant_lease(f"lease renewed by consul-lock (LockIndex {m.lock_index})")

    # ---- actions --------------------------------------------------------------------------------
    def _value(self, **extra: Any) -> dict[str, Any]:
        c, m = self.config, self.memory
        return {"proxy": c.instance_name, "address": c.proxy.address, "port": c.proxy.port, "backend": m.backend,
                "lock_index": m.lock_index, "session": m.session, "host": socket.gethostname(),
                "updated": datetime.now(UTC).isoformat(timespec="milliseconds"), **extra}

    def _acquire(self, s: Snapshot) -> None:
        m, c = self.memory, self.config
        assert m.session is not None
        predecessor = s.key.value if s.key is not None else None
        m.last_acquire_at = time.monotonic()
        try:
            won = self.consul.acquire(c.key, m.session, self._value(lock_index=None))
            if not won:
                return
            _, key = self.consul.read_key(c.key, consistent=True)
        except ConsulUnavailable as exc:
            log.info("acquire failed: %s", exc)
            return
        m.key = key
        m.lock_index = key.lock_index if key is not None else None
        m.predecessor = predecessor
        self._event("acquire", f"acquired {c.key} (LockIndex {m.lock_index}); predecessor "
                    f"{(predecessor or {}).get('proxy')} on {(predecessor or {}).get('backend')}")
        self.wake.set()  # the next cycle (at once) renews, re-reads and decides to activate

    def _activate(self, s: Snapshot) -> None:
        m, c = self.memory, self.config
        if s.key is not None:
            m.lock_index = s.key.lock_index
        preferred = (m.predecessor or {}).get("backend")
        if preferred and (preferred == m.backend or preferred not in self.proxy.healthy_backends()):
            preferred = None
        if not self._grant_lease(f"enabled by consul-lock: holds {c.key} (LockIndex {m.lock_index})",
                                 preferred=preferred, first=True):
            return
        m.predecessor = None
        try:
            assert m.session is not None
            self.consul.acquire(c.key, m.session, self._value())
        except ConsulUnavailable as exc:
            log.warning("could not record the backend in the key: %s", exc)

    def _grant_lease(self, message: str, *, preferred: str | None = None, first: bool = False) -> bool:
        """Enable (or keep enabled) the proxy's traffic with a fresh lease; False when refused."""
        m, t = self.memory, self.config.timing
        # Compare with what the key records, not with m.backend: each cycle's observation
        # already refreshes m.backend from the proxy, so that would never differ.
        key_value = m.key.value if m.key is not None else None
        recorded = key_value.get("backend") if isinstance(key_value, dict) else None
        sent = time.monotonic()
        try:
            cluster = self.proxy.enable(lease_seconds=t.lease_seconds, message=message, preferred=preferred,
                                        lease_until=lease_end(t, sent, key_read_at=m.key_read_at,
                                                              session_ok_at=m.session_ok_at,
                                                              heartbeat_ok_at=m.heartbeat_ok_at))
        except ProxyDraining:
            self._release("proxy refused to enable: draining for shutdown")
            return False
        except ProxyError as exc:
            log.warning("lease grant failed: %s", exc)
            return False
        m.lease_ok_at = sent
        if cluster.get("activeBackend"):
            m.backend = cluster["activeBackend"]["name"]
        if not m.active or first:
            m.active = True
            self._event("activate", message, backend=m.backend, preferred=preferred)
            if cluster.get("activeBackend"):  # /health answers 200 only with a backend to serve from
                self._announce("passing")
        elif m.backend != recorded and m.session is not None:
            try:
                self.consul.acquire(self.config.key, m.session, self._value())
            except ConsulUnavailable as exc:
                log.warning("could not record the new backend in the key: %s", exc)
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
        m.active = False
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
        m.session, m.session_ok_at, m.key = None, None, None

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
                m.active, m.lease_ok_at = False, None
            except ProxyError as exc:
                log.warning("proxy drain call failed (%s): disabling instead", exc)
        if not drained:
            self._disable(reason)
        self._release(reason)
        m.stepped_down = True
        self._event("step_down", f"stepped down: {reason}")

    def _clear_stale_sessions(self) -> None:
        """At start: a previous process of this job may have left a session holding the key.

        Traffic off FIRST (that process's lease may still run), then destroy those sessions so
        the key is free after lock-delay instead of after the session TTL.
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
                    self.consul.destroy(sess["ID"])
                    self._event("stale_session", f"destroyed session {sess['ID'][:8]} of a previous process")
        except Exception as exc:  # best effort: TTL expiry cleans up anyway
            log.warning("could not clear stale sessions: %s", exc)

    # ---- watch, state, log --------------------------------------------------------------------
    def _watch(self) -> None:
        """Keep a blocking read on the key open; wake the main loop when it changes."""
        while not self.stop.is_set():
            m = self.memory
            holding = m.active or (m.key is not None and m.key.session is not None and m.key.session == m.session)
            try:
                index, _ = self.watch_consul.watch_key(self.config.key, self._watch_index,
                                                       wait=WATCH_WAIT_SECONDS, consistent=holding)
            except ConsulUnavailable:
                self.stop.wait(0.5)
                continue
            if index != self._watch_index:
                if index < self._watch_index:
                    index = 0
                self._watch_index = index
                self.wake.set()

    def _event(self, event: str, reason: str, **fields: Any) -> None:
        m = self.memory
        entry = self.audit.write(event, reason, lock_index=m.lock_index, session=m.session, **fields)
        log.info("%s: %s", event, reason, extra={"fields": entry})

    def _write_state(self, d: Decision) -> None:
        m = self.memory
        state = {"pid": os.getpid(), "active": m.active, "session": m.session, "lock_index": m.lock_index,
                 "backend": m.backend, "stepped_down": m.stepped_down, "action": d.action.value, "reason": d.reason,
                 "monotonic": time.monotonic()}
        tmp = self.config.state_path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(state, f)
            os.replace(tmp, self.config.state_path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.config.state_path, exc)


__all__ = ["LockDaemon", "ProxyState"]
