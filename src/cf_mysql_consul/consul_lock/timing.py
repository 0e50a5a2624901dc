"""The lock's safety arithmetic, in one place, checked at start-up (refused, never adjusted).

The rule (as Patroni's): the local proxy stops serving BEFORE Consul could let anyone else
hold the key. Consul lets the key go in three ways, each with its own earliest moment:

1. Session TTL expiry: no earlier than ``session_ttl`` after the last renewal that reached the
   server (servers actually wait up to 2x). The holder renews the session every cycle and
   grants the proxy a lease only if ``now + proxy_timeout + lease <= renewed_at + session_ttl``.
2. The heartbeat check (a TTL check this job passes every cycle) going critical because this
   job died or hung: the key is free no earlier than ``heartbeat_at + heartbeat_ttl + lock_delay``.
   The lease is granted in the same cycle, at most ``consul_timeout`` after the heartbeat, so
   ``consul_timeout + proxy_timeout + lease < heartbeat_ttl + lock_delay``.
3. ``serfHealth`` going critical (the VM or its agent is gone): Consul clears the key's
   Session at once, at any moment, and the holder may be too slow to notice (a starved or
   paused process). Its last lease ends by the send time of the proof write (rule 5) that
   showed it holding the key plus ``proxy_timeout + lease`` (``lease_end``), so that must be
   shorter than the lock-delay: ``proxy_timeout + lease < lock_delay``. The proxy refuses a
   grant that arrives after the lease's end and caps the lease there, so neither a paused lock
   job nor a paused proxy can stretch a lease past it. (An earlier
   version relied on the holder reacting within ``proxy_timeout``; a loaded CI machine showed
   a 675 ms overlap, so the rule no longer trusts the holder to react.)
   (When the whole instance is cut off from the servers, every Consul call fails and the
   holder disables traffic after at most ``renew_interval + consul_timeout``, while gossip
   needs longer than that to declare the node failed.)
4. Failsafe: when the holder cannot prove through Consul that it holds the key (the servers are
   unreachable, its session expired meanwhile, the key went free), it may keep serving only
   while EVERY peer consul-lock (every other member of the ``consul-lock`` link) has promised,
   in answer to a request sent at ``sent``, not to acquire the key nor enable its own proxy for
   ``failsafe_ttl`` after RECEIVING that request. A peer that holds the key, is active, or is
   racing refuses. A consul-lock that is not in the peer list the holder recorded in the key
   never races. So while the promises hold nobody else can serve, whatever Consul does, and a
   failsafe lease ends by ``sent + failsafe_ttl * (1 - CLOCK_RATE_MARGIN)``: the receipt is no
   earlier than ``sent``, and the margin covers the rate difference of two hosts' monotonic
   clocks. One peer that does not answer in time ends failsafe leases at once; the last lease
   runs out by the bound above, before that peer's promise does.
5. A stale holder unseated: the holder proves it holds the key each cycle by a WRITE, not a read:
   one transaction that checks the key's ModifyIndex is the one of its previous proof and
   re-locks the key with its session, so every proof gives the key a new ModifyIndex. Every
   lease it grants through Consul is anchored at the send time of its last proof, so it ends by
   ``proof_sent + proxy_timeout + lease`` (``lease_end``). A standby that has
   seen one ModifyIndex ``I`` unchanged since it first received it at ``seen`` may release the
   holder's session from the key with a transaction that checks the ModifyIndex is still ``I``
   (a release starts no lock-delay), no earlier than
   ``seen + (proxy_timeout + lease) * (1 + 2 * CLOCK_RATE_MARGIN)``
   (``stale_holder_free_at``). If the transaction succeeds, no proof was applied after ``I``;
   the proof with index ``I`` was sent before ``seen`` (a read cannot return a write before it
   is applied), so every lease the holder granted through Consul ended before the release. A
   standby releases only while it has no promise in force and marks itself racing first, so
   it gives no new promise meanwhile, and failsafe leases (rule 4) end before its last promise
   does; only a standby named in the peer list the holder recorded in the key releases,
   because only those are asked for failsafe promises. This bounds a handover away from a holder
   that is paused, killed or cut off by its own lease, not by gossip's failure detection
   (which grows with the cluster) nor by the lock-delay. For a hung or killed lock job whose agent
   lives, the heartbeat check would free the key too, but with the lock-delay on top: its TTL
   (default 4 s) is longer than the unseat bound (2.004 s with the defaults), so the standby
   unseats first.
Everything here is pure; ``check`` raises ``TimingError`` naming the property to change.
"""

from __future__ import annotations

from dataclasses import dataclass

CONSUL_MIN_TTL_SECONDS = 10
CONSUL_MAX_TTL_SECONDS = 86400
CYCLE_CONSUL_CALLS = 5
"""Consul calls in one holder cycle before the lease is granted, at most: heartbeat, renew, proof
write, and when the proof finds the key changed by this job's own write, a read and a second proof."""
CLOCK_RATE_MARGIN = 0.001
"""How much faster one host's monotonic clock may run than another's (NTP slews at most 0.05%)."""


class TimingError(ValueError):
    """A timing property breaks the safety rule; the message names it and the bound."""


@dataclass(frozen=True, slots=True)
class Timing:
    """The timing properties of the job (seconds), with their property names as field names."""

    session_ttl_seconds: float = 10
    lock_delay_seconds: float = 3
    lease_seconds: float = 1.5
    renew_interval_seconds: float = 0.5
    heartbeat_ttl_seconds: float = 4
    consul_timeout_seconds: float = 0.75
    proxy_timeout_seconds: float = 0.5
    failsafe_ttl_seconds: float = 3
    peer_timeout_seconds: float = 0.5


@dataclass(frozen=True, slots=True)
class Margins:
    """How much room each rule leaves (seconds); all positive for an accepted config."""

    session_ttl: float
    heartbeat: float
    reaction: float
    failsafe: float

    def describe(self) -> str:
        """One line for the start-up log."""
        return (f"safety margins: session TTL {self.session_ttl:.2f} s, heartbeat {self.heartbeat:.2f} s, "
                f"invalidation reaction {self.reaction:.2f} s, failsafe renewal {self.failsafe:.2f} s")


def check(t: Timing) -> Margins:
    """Validate ``t``; return the margins or raise ``TimingError`` naming the property."""
    for name in ("session_ttl_seconds", "lease_seconds", "renew_interval_seconds", "heartbeat_ttl_seconds",
                 "consul_timeout_seconds", "proxy_timeout_seconds", "failsafe_ttl_seconds", "peer_timeout_seconds"):
        if not getattr(t, name) > 0:
            raise TimingError(f"property '{name}' must be > 0 seconds, got {getattr(t, name)}")
    ttl = t.session_ttl_seconds
    if not CONSUL_MIN_TTL_SECONDS <= ttl <= CONSUL_MAX_TTL_SECONDS or ttl != int(ttl):
        raise TimingError(f"property 'session_ttl_seconds' must be a whole number of seconds between "
                          f"{CONSUL_MIN_TTL_SECONDS} and {CONSUL_MAX_TTL_SECONDS} (Consul's limits), got {ttl}")
    delay = t.lock_delay_seconds
    if delay < 0 or delay != int(delay) or delay > 60:
        raise TimingError(f"property 'lock_delay_seconds' must be a whole number of seconds from 0 to 60, got {delay}")
    if t.lease_seconds <= t.renew_interval_seconds + t.proxy_timeout_seconds:
        raise TimingError(
            f"property 'lease_seconds' ({t.lease_seconds:g}) must be longer than renew_interval_seconds "
            f"({t.renew_interval_seconds:g}) + proxy_timeout_seconds ({t.proxy_timeout_seconds:g}), or the lease "
            f"runs out between two renewals")
    if t.heartbeat_ttl_seconds <= t.renew_interval_seconds + t.consul_timeout_seconds:
        raise TimingError(
            f"property 'heartbeat_ttl_seconds' ({t.heartbeat_ttl_seconds:g}) must be longer than "
            f"renew_interval_seconds + consul_timeout_seconds "
            f"({t.renew_interval_seconds + t.consul_timeout_seconds:g}), "
            f"or the heartbeat check fails while this job is healthy")
    cycle = CYCLE_CONSUL_CALLS * t.consul_timeout_seconds
    session_room = ttl - (t.renew_interval_seconds + cycle + t.proxy_timeout_seconds + t.lease_seconds)
    if session_room <= 0:
        raise TimingError(
            f"property 'lease_seconds' ({t.lease_seconds:g}) too long for session_ttl_seconds ({ttl:g}): "
            f"renew_interval ({t.renew_interval_seconds:g}) + {CYCLE_CONSUL_CALLS} x consul_timeout ({cycle:g}) + "
            f"proxy_timeout ({t.proxy_timeout_seconds:g}) + lease must stay under the session TTL, so the proxy "
            f"stops serving before Consul could expire the session")
    reaction_room = delay - proof_lease_bound(t)
    if reaction_room <= 0:
        raise TimingError(
            f"property 'lock_delay_seconds' ({delay:g}) must be longer than proxy_timeout_seconds "
            f"({t.proxy_timeout_seconds:g}) + lease_seconds ({t.lease_seconds:g}): when Consul invalidates the "
            f"holder's session (serfHealth or heartbeat critical) its last lease must run out before anyone else "
            f"can take the key, whether or not the holder reacts")
    heartbeat_room = (t.heartbeat_ttl_seconds + delay) - (t.consul_timeout_seconds + proof_lease_bound(t))
    # The heartbeat rule (heartbeat_ttl + lock_delay > consul_timeout + proxy_timeout + lease) follows
    # from the lock-delay rule above (heartbeat_ttl > renew_interval + consul_timeout); its margin is
    # still logged.
    # Failsafe (rule 4) is safe by construction at any TTL; this rule is about staying up: the next
    # confirmation (one cycle and one peer round later) must arrive before the last failsafe lease
    # ends, or the proxy flaps while every peer agrees.
    failsafe_room = failsafe_lease_end(t, 0.0, confirmed_at=0.0) - (
        t.renew_interval_seconds + t.peer_timeout_seconds + t.proxy_timeout_seconds)
    if failsafe_room <= 0:
        raise TimingError(
            f"property 'failsafe_ttl_seconds' ({t.failsafe_ttl_seconds:g}) must be longer than "
            f"renew_interval_seconds ({t.renew_interval_seconds:g}) + peer_timeout_seconds "
            f"({t.peer_timeout_seconds:g}) + proxy_timeout_seconds ({t.proxy_timeout_seconds:g}), or a holder cut "
            f"off from Consul cannot renew its peer-confirmed lease before it runs out")
    return Margins(session_room, heartbeat_room, reaction_room, failsafe_room)


def lease_allowed(t: Timing, now: float, *, session_ok_at: float | None, heartbeat_ok_at: float | None) -> str | None:
    """None when a lease granted at ``now`` ends before Consul could free the key; else why not.

    ``session_ok_at`` and ``heartbeat_ok_at`` are the monotonic SEND times of the last
    successful session renewal and heartbeat (the server saw them no earlier).
    """
    ends = now + t.proxy_timeout_seconds + t.lease_seconds
    if session_ok_at is None:
        return "no session renewal yet"
    if ends > session_ok_at + t.session_ttl_seconds:
        return f"last session renewal {now - session_ok_at:.1f} s ago: a lease could outlive the session TTL"
    if heartbeat_ok_at is None:
        return "no heartbeat yet"
    if ends >= heartbeat_ok_at + t.heartbeat_ttl_seconds + t.lock_delay_seconds:
        return f"last heartbeat {now - heartbeat_ok_at:.1f} s ago: a lease could outlive the heartbeat check"
    return None


def lease_end(t: Timing, sent: float, *, proof_at: float | None, session_ok_at: float | None,
              heartbeat_ok_at: float | None) -> float:
    """The monotonic instant a lease granted at ``sent`` must end by, whatever happened since.

    Each rule above, anchored at the call it trusts rather than at ``sent``: the last proof write
    showing this job holding the key (rules 3 and 5), the last session renewal (rule 1) and the last
    heartbeat (rule 2). A lock job paused between its proof and its grant thus grants a shorter
    lease, or one the proxy refuses as already over, never a longer one. Without a proof the
    lease is already over.
    """
    if proof_at is None:
        return sent
    ends = min(sent, proof_at) + proof_lease_bound(t)
    if session_ok_at is not None:
        ends = min(ends, session_ok_at + t.session_ttl_seconds)
    if heartbeat_ok_at is not None:
        ends = min(ends, heartbeat_ok_at + t.heartbeat_ttl_seconds + t.lock_delay_seconds)
    return ends


def proof_lease_bound(t: Timing) -> float:
    """How long after a proof write's send time a lease anchored at it may last (rules 3 and 5): the
    lease, plus the time the grant may take to reach the proxy."""
    return t.proxy_timeout_seconds + t.lease_seconds


def stale_holder_free_at(t: Timing, seen: float) -> float:
    """When a standby that first received the key's current ModifyIndex at ``seen`` (its monotonic
    clock) may release the holder's session from the key, if the index is still the same (rule 5):
    every lease anchored at that proof has ended by then on the holder's clock too, which may run
    slower than this one by ``CLOCK_RATE_MARGIN`` (doubled for room)."""
    return seen + proof_lease_bound(t) * (1 + 2 * CLOCK_RATE_MARGIN)


def failsafe_lease_end(t: Timing, now: float, *, confirmed_at: float) -> float:
    """The end of a lease granted at ``now`` on the strength of a peer round sent at ``confirmed_at``
    that every peer accepted (rule 4): never later than the first peer's promise could end."""
    return min(now + t.proxy_timeout_seconds + t.lease_seconds,
               confirmed_at + t.failsafe_ttl_seconds * (1 - CLOCK_RATE_MARGIN))
