"""Leadership: one pure decision per cycle on one immutable snapshot (no I/O, no clock).

Rules, in order (the first that applies wins; every decision carries a readable reason):
1. A step-down was asked for (bin/drain, SIGTERM): disable traffic, release the key, destroy
   the session; afterwards do nothing (not racing) until the process stops.
2. The proxy serves but this job is not an undoubted holder: disable traffic FIRST.
3. Active (this job enabled the proxy): any doubt (Consul error, session gone, key shows
   another session, a lease that could outlive the session or heartbeat) -> disable. A proxy
   that is gone or draining -> release the key at once (a release starts no lock-delay), a hung
   proxy once its lease has certainly run out. Else renew the lease when due.
4. Not active: no session -> create one; the key shows our session -> activate; the key is
   free -> race for it; else standby.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from cf_mysql_consul.consul_lock.timing import Timing, lease_allowed

LEASE_DUE_FRACTION = 0.9
"""Renew the lease once this fraction of ``renew_interval`` has passed since the last grant."""
ACQUIRE_RETRY_SECONDS = 0.2
"""While the key is free but refused (lock-delay), race again this often."""


class Action(enum.Enum):
    """What the daemon does this cycle."""

    NOTHING = "nothing"
    CREATE_SESSION = "create_session"
    ACQUIRE = "acquire"
    ACTIVATE = "activate"
    RENEW_LEASE = "renew_lease"
    DEACTIVATE = "deactivate"
    RELEASE = "release"
    STEP_DOWN = "step_down"


class ProxyState(enum.Enum):
    """The local proxy as its API answered this cycle."""

    STANDBY = "standby"  # answering, traffic disabled
    SERVING = "serving"  # answering, traffic enabled
    DRAINING = "draining"  # answering, shutting down (POST /v0/drain)
    GONE = "gone"  # connection refused: no process behind the port
    UNREACHABLE = "unreachable"  # timeout or error: maybe hung


@dataclass(frozen=True, slots=True)
class KeyView:
    """The lock key as one read saw it; ``session`` None = free."""

    session: str | None
    lock_index: int
    modify_index: int
    value: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one decision reads. Times are monotonic SEND times of successful calls."""

    session: str | None
    session_ok_at: float | None
    heartbeat_ok_at: float | None
    key: KeyView | None
    key_ok: bool  # the key read of this cycle succeeded (``key`` None then means absent)
    consul_error: str | None
    proxy: ProxyState
    proxy_detail: str
    active: bool
    lease_ok_at: float | None
    last_acquire_at: float | None
    step_down: str | None  # reason, once asked
    stepped_down: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict of one cycle."""

    action: Action
    reason: str


def _holder_name(key: KeyView | None) -> str:
    if key is None or key.value is None:
        return "unknown"
    return str(key.value.get("proxy", "unknown"))


def decide(s: Snapshot, now: float, t: Timing) -> Decision:
    """Return what to do at monotonic ``now`` for snapshot ``s`` under timing ``t``."""
    holding = s.session is not None and s.key_ok and s.key is not None and s.key.session == s.session
    if s.step_down is not None:
        if s.stepped_down:
            return Decision(Action.NOTHING, f"stepped down ({s.step_down}): not racing until stopped")
        return Decision(Action.STEP_DOWN, f"stepping down: {s.step_down}")

    doubt = _doubt(s, now, t, holding=holding)
    if s.proxy is ProxyState.SERVING and (not s.active or doubt is not None):
        why = doubt if s.active else "proxy serves but this job did not enable it"
        return Decision(Action.DEACTIVATE, f"disabling traffic first: {why}")

    index = s.key.lock_index if s.key else "?"
    if s.active:
        if doubt is not None:
            return Decision(Action.DEACTIVATE, f"disabling traffic first: {doubt}")
        if s.proxy is ProxyState.GONE:
            return Decision(Action.RELEASE, f"proxy process gone ({s.proxy_detail}): releasing the key for the standby")
        if s.proxy is ProxyState.DRAINING:
            return Decision(Action.RELEASE, "proxy is draining for shutdown: releasing the key for the standby")
        if s.proxy is ProxyState.UNREACHABLE:
            lease_over = s.lease_ok_at is None or now >= s.lease_ok_at + t.proxy_timeout_seconds + t.lease_seconds
            if lease_over:
                return Decision(Action.RELEASE, f"proxy hung ({s.proxy_detail}) and its lease has run out: releasing")
            return Decision(Action.NOTHING, f"proxy not answering ({s.proxy_detail}): waiting for its lease to run out")
        if s.lease_ok_at is None or now - s.lease_ok_at >= LEASE_DUE_FRACTION * t.renew_interval_seconds:
            return Decision(Action.RENEW_LEASE, f"active: renewing the lease (LockIndex {index})")
        return Decision(Action.NOTHING, f"active: holding the lock (LockIndex {index})")

    if s.consul_error is not None:
        return Decision(Action.NOTHING, f"standby: Consul error ({s.consul_error}); retrying")
    if s.session is None:
        if s.proxy in (ProxyState.GONE, ProxyState.UNREACHABLE, ProxyState.DRAINING):
            return Decision(Action.NOTHING,
                            f"standby: proxy {s.proxy.value} ({s.proxy_detail}); no session until it is back")
        return Decision(Action.CREATE_SESSION, "no session: creating one")
    if s.proxy is not ProxyState.STANDBY and s.proxy is not ProxyState.SERVING:
        if holding:
            return Decision(Action.RELEASE, f"holding the key but the proxy is {s.proxy.value}: releasing")
        return Decision(Action.NOTHING, f"standby: proxy {s.proxy.value} ({s.proxy_detail}); not racing")
    if holding:
        refusal = lease_allowed(t, now, session_ok_at=s.session_ok_at, heartbeat_ok_at=s.heartbeat_ok_at)
        if refusal is not None:
            return Decision(Action.NOTHING, f"holding the key but not activating: {refusal}")
        assert s.key is not None
        return Decision(Action.ACTIVATE, f"holding the key (LockIndex {s.key.lock_index}): enabling traffic")
    if s.key is None or s.key.session is None:
        if s.last_acquire_at is not None and now - s.last_acquire_at < ACQUIRE_RETRY_SECONDS:
            return Decision(Action.NOTHING, "key free but refused a moment ago (lock-delay): racing again shortly")
        return Decision(Action.ACQUIRE, "key free: racing for it")
    return Decision(Action.NOTHING, f"standby: key held by {_holder_name(s.key)} (LockIndex {s.key.lock_index})")


def _doubt(s: Snapshot, now: float, t: Timing, *, holding: bool) -> str | None:
    """Why this job cannot prove it holds the lock right now (None = it can)."""
    if s.consul_error is not None:
        return f"Consul error: {s.consul_error}"
    if s.session is None:
        return "session gone (invalidated or never created)"
    if not s.key_ok or s.key is None or s.key.session is None:
        return "lock lost: key is free"
    if not holding:
        return f"lock lost: key held by {_holder_name(s.key)} (session {s.key.session[:8]})"
    return lease_allowed(t, now, session_ok_at=s.session_ok_at, heartbeat_ok_at=s.heartbeat_ok_at)
