"""Leadership: one pure decision per cycle on one immutable snapshot (no I/O, no clock).

Rules, in order (the first that applies wins; every decision carries a readable reason):
1. A step-down was asked for (bin/drain, SIGTERM): disable traffic, release the key, destroy
   the session; afterwards do nothing (not racing) until the process stops.
2. The proxy serves but this job is not an undoubted holder: disable traffic FIRST, unless
   every peer has just promised not to take over (failsafe, rule 4 of ``timing``).
3. Active (this job enabled the proxy): the key held by another session -> disable. Any other
   doubt (Consul unreachable, session gone, key free, a lease that could outlive the session or
   heartbeat) -> keep serving on the peers' promises when every peer gave one, restoring the lock
   in Consul meanwhile (new session, acquire); else disable. A proxy that is gone or draining ->
   release the key at once (a release starts no lock-delay), a hung proxy once its lease has
   certainly run out. Else renew the lease when due.
4. Not active: no session -> create one; promised a peer not to race -> wait; the key shows our
   session -> activate; the key is free -> race for it, unless the holder's recorded peer list
   leaves this job out; the key held by a holder whose proof has not changed for longer than its
   leases can last (rule 5 of ``timing``) -> release it from the key (unseat), if that holder's
   recorded peer list names this job; else standby.

The daemon acts on the fields of ``Decision`` only, never on the words of its reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

from cf_mysql_consul.consul_lock.timing import (
    Timing,
    failsafe_lease_end,
    lease_allowed,
    lease_end,
    stale_holder_free_at,
)

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
    UNSEAT = "unseat"


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
    me: str = ""  # this job's instance name, e.g. proxy/0
    agent_ok: bool = True  # the local Consul agent answered this cycle (its heartbeat call succeeded)
    proof_at: float | None = None  # send time of the last proof write that succeeded (rule 5 of timing)
    key_seen_at: float | None = None  # when this job first received the key's current ModifyIndex
    failsafe_ok_at: float | None = None  # send time of this cycle's peer round, when every peer accepted
    failsafe_detail: str = ""  # why the peer round failed (or "" when none was needed)
    promised_until: float | None = None  # this job promised a peer not to race until then
    promised_to: str | None = None
    backend: str | None = None  # the proxy's active backend
    healthy_backends: frozenset[str] | None = None  # asked only when about to activate
    predecessor_backend: str | None = None  # the backend the previous holder served from
    recorded_holder_alive: bool | None = None  # asked only when the key's peer list leaves this job out


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict of one cycle: what to do, why, and everything the daemon needs to do it."""

    action: Action
    reason: str
    delay: float | None = None  # seconds until the next cycle; None = the renew interval
    lease_until: float | None = None  # ACTIVATE / RENEW_LEASE: where the lease must end (monotonic)
    failsafe: bool = False  # the lease rests on every peer's promise, not on Consul
    preferred: str | None = None  # ACTIVATE: the backend to serve from (the predecessor's)
    then: Action | None = field(default=None)  # failsafe: restore the lock in Consul in the same cycle


def _holder_name(key: KeyView | None) -> str:
    if key is None or key.value is None:
        return "unknown"
    return str(key.value.get("proxy", "unknown"))


def holding(s: Snapshot) -> bool:
    """The key read of this cycle shows this job's session."""
    return s.key_ok and proves(session=s.session, key=s.key)


def lost_to_another(s: Snapshot) -> bool:
    """Consul answered and the key belongs to another session: the lock is certainly lost."""
    return s.key_ok and s.key is not None and s.key.session is not None and s.key.session != s.session


def needs_peers(s: Snapshot, now: float, t: Timing) -> bool:
    """Whether the daemon should ask every peer for a failsafe promise this cycle (before deciding):
    this job is active, Consul cannot prove it still holds the key, nobody else holds it, and the
    local agent answers. A dead or hung local agent means this VM leaves DNS (its node fails in
    gossip), so serving on there would help no client: hand over instead."""
    return (s.active and s.agent_ok and s.step_down is None and not lost_to_another(s)
            and _doubt(s, now, t) is not None)


def session_renewal_due(*, session: str | None, session_ok_at: float | None, holding: bool, active: bool,
                        now: float, t: Timing) -> bool:
    """Renew the session every cycle while holding or active, else once half its TTL has passed."""
    if session is None:
        return False
    return active or holding or session_ok_at is None or now - session_ok_at >= t.session_ttl_seconds / 2


SERF_FAILED = 4  # a LAN member's Status in /v1/agent/members: failed (1 is alive, 3 left)


def rejoin_due(s: Snapshot, *, last_rejoin_at: float | None, now: float, t: Timing) -> bool:
    """Ask the local agent to join the Consul servers it lists as failed: its agent answers but the
    servers do not (a partition or a server outage), at most once per renew interval.

    After a partition heals, serf re-merges the two sides only at its next push-pull or reconnect
    (measured here: 7-18 s after a 30 s partition), and until then the agent knows no server to
    send a session request to: every consul-lock stays unarmed. A join is one push-pull with the
    server, as ``retry_join`` and ``consul join`` do, so it merges them as soon as the server
    answers. It changes no lock state, so no timing rule depends on it.
    """
    if not s.agent_ok or s.consul_error is None:
        return False
    return last_rejoin_at is None or now - last_rejoin_at >= t.renew_interval_seconds


def servers_to_rejoin(members: list[dict[str, Any]]) -> list[str]:
    """``addr:port`` of every LAN member the agent lists as a failed Consul server (not one that left)."""
    return [f"{m['Addr']}:{m['Port']}" for m in members
            if (m.get("Tags") or {}).get("role") == "consul" and m.get("Status") == SERF_FAILED]


def proves(*, session: str | None, key: KeyView | None) -> bool:
    """Prove the lock this cycle by a write (rule 5 of ``timing``) rather than read the key: the last
    view of the key shows this job's session."""
    return session is not None and key is not None and key.session == session


def watch_wakes(before: KeyView | None, after: KeyView | None) -> bool:
    """Whether a change the key watch saw calls for a cycle at once: the holder changed (or the key
    came or went). A holder's proof writes change only the ModifyIndex and wake nobody."""
    def holder(k: KeyView | None) -> tuple[str | None, int] | None:
        return None if k is None else (k.session, k.lock_index)
    return holder(before) != holder(after)


def promise_refusal(*, active: bool, holding: bool, racing: bool) -> str | None:
    """Why this job cannot promise a failsafe holder not to take over (None: it can)."""
    if active:
        return "this consul-lock is active"
    if holding:
        return "this consul-lock holds the key"
    if racing:
        return "this consul-lock is racing for the key"
    return None


def armed(s: Snapshot) -> bool:
    """Serving, or ready to take over at once: a session, Consul answering, a standby proxy."""
    if s.active:
        return True
    return (s.session is not None and s.consul_error is None and s.step_down is None
            and s.proxy is ProxyState.STANDBY)


def wants_holder_liveness(s: Snapshot) -> bool:
    """Ask Consul whether the recorded holder's node is alive (the key's peer list leaves this job out)."""
    return not s.active and s.consul_error is None and s.key is not None and s.key.session is None \
        and _not_listed(s) is not None


def wants_backends(s: Snapshot) -> bool:
    """Ask the proxy for its healthy backends (to keep the predecessor's one) before activating."""
    return not s.active and holding(s) and s.predecessor_backend is not None


def decide(s: Snapshot, now: float, t: Timing) -> Decision:
    """Return what to do at monotonic ``now`` for snapshot ``s`` under timing ``t``."""
    d = _decide(s, now, t)
    if d.delay is None:
        d = replace(d, delay=ACQUIRE_RETRY_SECONDS if d.action is Action.ACQUIRE else t.renew_interval_seconds)
    return d


def _decide(s: Snapshot, now: float, t: Timing) -> Decision:
    if s.step_down is not None:
        if s.stepped_down:
            return Decision(Action.NOTHING, f"stepped down ({s.step_down}): not racing until stopped")
        return Decision(Action.STEP_DOWN, f"stepping down: {s.step_down}")

    doubt = _doubt(s, now, t)
    failsafe = (s.active and s.agent_ok and doubt is not None and not lost_to_another(s)
                and s.failsafe_ok_at is not None)
    if s.proxy is ProxyState.SERVING and not s.active:
        return Decision(Action.DEACTIVATE, "disabling traffic first: proxy serves but this job did not enable it")
    if s.active:
        return _active(s, now, t, doubt, failsafe=failsafe)
    return _standby(s, now, t)


def _active(s: Snapshot, now: float, t: Timing, doubt: str | None, *, failsafe: bool) -> Decision:
    index = s.key.lock_index if s.key else "?"
    if doubt is not None and not failsafe:
        if not s.agent_ok:
            peers = "; the local Consul agent does not answer: handing over (no failsafe)"
        else:
            peers = f"; {s.failsafe_detail}" if s.failsafe_detail and not lost_to_another(s) else ""
        return Decision(Action.DEACTIVATE, f"disabling traffic first: {doubt}{peers}")
    if s.proxy is ProxyState.GONE:
        return Decision(Action.RELEASE, f"proxy process gone ({s.proxy_detail}): releasing the key for the standby")
    if s.proxy is ProxyState.DRAINING:
        return Decision(Action.RELEASE, "proxy is draining for shutdown: releasing the key for the standby")
    if s.proxy is ProxyState.UNREACHABLE:
        lease_over = s.lease_ok_at is None or now >= s.lease_ok_at + t.proxy_timeout_seconds + t.lease_seconds
        if lease_over:
            return Decision(Action.RELEASE, f"proxy hung ({s.proxy_detail}) and its lease has run out: releasing")
        return Decision(Action.NOTHING, f"proxy not answering ({s.proxy_detail}): waiting for its lease to run out")
    if failsafe:
        assert s.failsafe_ok_at is not None and doubt is not None
        until = failsafe_lease_end(t, now, confirmed_at=s.failsafe_ok_at)
        return Decision(Action.RENEW_LEASE, f"failsafe: serving on every peer's promise ({doubt})",
                        lease_until=until, failsafe=True, then=_restore(s, now))
    if s.lease_ok_at is None or now - s.lease_ok_at >= LEASE_DUE_FRACTION * t.renew_interval_seconds:
        return Decision(Action.RENEW_LEASE, f"active: renewing the lease (LockIndex {index})",
                        lease_until=_lease_end(s, now, t))
    return Decision(Action.NOTHING, f"active: holding the lock (LockIndex {index})")


def _restore(s: Snapshot, now: float) -> Action | None:
    """Under failsafe, the step that brings the lock back into Consul (None while unreachable)."""
    if s.consul_error is not None:
        return None
    if s.session is None:
        return Action.CREATE_SESSION
    if s.key_ok and (s.key is None or s.key.session is None):
        if s.last_acquire_at is not None and now - s.last_acquire_at < ACQUIRE_RETRY_SECONDS:
            return None
        return Action.ACQUIRE
    return None


def _standby(s: Snapshot, now: float, t: Timing) -> Decision:
    if s.consul_error is not None:
        return Decision(Action.NOTHING, f"standby: Consul error ({s.consul_error}); retrying")
    if s.session is None:
        if s.proxy in (ProxyState.GONE, ProxyState.UNREACHABLE, ProxyState.DRAINING):
            return Decision(Action.NOTHING,
                            f"standby: proxy {s.proxy.value} ({s.proxy_detail}); no session until it is back")
        return Decision(Action.CREATE_SESSION, "no session: creating one")
    if s.proxy is not ProxyState.STANDBY and s.proxy is not ProxyState.SERVING:
        if holding(s):
            return Decision(Action.RELEASE, f"holding the key but the proxy is {s.proxy.value}: releasing")
        return Decision(Action.NOTHING, f"standby: proxy {s.proxy.value} ({s.proxy_detail}); not racing")
    if s.promised_until is not None and now < s.promised_until:
        return Decision(Action.NOTHING, f"standby: promised {s.promised_to} not to take over "
                                        f"(it serves cut off from Consul)")
    if holding(s):
        refusal = lease_allowed(t, now, session_ok_at=s.session_ok_at, heartbeat_ok_at=s.heartbeat_ok_at)
        if refusal is not None:
            return Decision(Action.NOTHING, f"holding the key but not activating: {refusal}")
        assert s.key is not None
        preferred = s.predecessor_backend
        if preferred is not None and (preferred == s.backend or s.healthy_backends is None
                                      or preferred not in s.healthy_backends):
            preferred = None
        return Decision(Action.ACTIVATE, f"holding the key (LockIndex {s.key.lock_index}): enabling traffic",
                        lease_until=_lease_end(s, now, t), preferred=preferred)
    if s.key is None or s.key.session is None:
        left_out = _left_out(s)
        if left_out is not None:
            return Decision(Action.NOTHING, left_out)
        if s.last_acquire_at is not None and now - s.last_acquire_at < ACQUIRE_RETRY_SECONDS:
            return Decision(Action.NOTHING, "key free but refused a moment ago (lock-delay): racing again shortly",
                            delay=ACQUIRE_RETRY_SECONDS)
        return Decision(Action.ACQUIRE, "key free: racing for it")
    return _stale_holder(s, now, t)


def _stale_holder(s: Snapshot, now: float, t: Timing) -> Decision:
    """The key is held by another session: unseat that holder once its proof is older than any lease
    it could have granted on it (rule 5 of ``timing``), else wait (and wake when that time comes)."""
    assert s.key is not None
    held = f"standby: key held by {_holder_name(s.key)} (LockIndex {s.key.lock_index})"
    peers = _recorded_peers(s)
    if s.key_seen_at is None or not s.me or peers is None or s.me not in peers:
        return Decision(Action.NOTHING, held)
    free_at = stale_holder_free_at(t, s.key_seen_at)
    if now < free_at:
        return Decision(Action.NOTHING, held, delay=min(t.renew_interval_seconds, free_at - now))
    return Decision(Action.UNSEAT, f"{_holder_name(s.key)} has proven no hold on the key for "
                                   f"{now - s.key_seen_at:.1f} s, longer than any lease it granted lasts: "
                                   f"releasing its session from the key (no lock-delay)")


def _recorded_peers(s: Snapshot) -> list[str] | None:
    """The peer list the last holder recorded in the key (None when it recorded none)."""
    value = s.key.value if s.key is not None else None
    peers = value.get("peers") if isinstance(value, dict) else None
    return [str(p) for p in peers] if isinstance(peers, list) else None


def _not_listed(s: Snapshot) -> list[str] | None:
    """The last holder's recorded peer list when it does not name this job (else None)."""
    peers = _recorded_peers(s)
    if peers is None or not s.me or s.me in peers:
        return None
    return peers


def _left_out(s: Snapshot) -> str | None:
    """Why this job must not race although the key is free: the last holder's peer list (the ones
    it asks for failsafe promises) does not name it, and that holder's node is alive, so it may be
    serving on its peers' promises. Once its node is gone (or a holder that knows this job took
    over), this job races like any other."""
    peers = _not_listed(s)
    if peers is None or s.recorded_holder_alive is False:
        return None
    return (f"standby: not racing: {_holder_name(s.key)} (alive or unknown) recorded peers {', '.join(peers)}, "
            f"not {s.me}; waiting for a holder that knows this instance")


def _lease_end(s: Snapshot, now: float, t: Timing) -> float:
    return lease_end(t, now, proof_at=s.proof_at, session_ok_at=s.session_ok_at,
                     heartbeat_ok_at=s.heartbeat_ok_at)


def _doubt(s: Snapshot, now: float, t: Timing) -> str | None:
    """Why this job cannot prove it holds the lock right now (None = it can)."""
    if s.consul_error is not None:
        return f"Consul error: {s.consul_error}"
    if s.session is None:
        return "session gone (invalidated or never created)"
    if not s.key_ok or s.key is None or s.key.session is None:
        return "lock lost: key is free"
    if not holding(s):
        return f"lock lost: key held by {_holder_name(s.key)} (session {s.key.session[:8]})"
    return lease_allowed(t, now, session_ok_at=s.session_ok_at, heartbeat_ok_at=s.heartbeat_ok_at)
