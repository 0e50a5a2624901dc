"""The safety arithmetic: defaults accepted with positive margins, every broken rule refused by name."""

from __future__ import annotations

import dataclasses

import pytest

from cf_mysql_consul.consul_lock.timing import (
    CLOCK_RATE_MARGIN,
    Timing,
    TimingError,
    check,
    failsafe_lease_end,
    lease_allowed,
    lease_end,
    proof_lease_bound,
    stale_holder_free_at,
)


def test_defaults_are_accepted_with_room_left() -> None:
    margins = check(Timing())
    assert margins.session_ttl > 0 and margins.heartbeat > 0 and margins.reaction >= 0
    assert "safety margins" in margins.describe()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"session_ttl_seconds": 5}, "session_ttl_seconds"),
        ({"session_ttl_seconds": 10.5}, "session_ttl_seconds"),
        ({"lease_seconds": 8}, "lease_seconds"),  # outlives the session TTL rule
        ({"lease_seconds": 4}, "lock_delay_seconds"),  # would outlive the lock-delay after an invalidation
        ({"lock_delay_seconds": 2}, "lock_delay_seconds"),  # not longer than consul + proxy timeouts + lease
        ({"lease_seconds": 0.9}, "lease_seconds"),  # runs out between two renewals
        ({"lock_delay_seconds": 0}, "lock_delay_seconds"),  # the old lease outlives an invalidation
        ({"lock_delay_seconds": 1.5}, "lock_delay_seconds"),
        ({"heartbeat_ttl_seconds": 1.0}, "heartbeat_ttl_seconds"),
        ({"consul_timeout_seconds": 0}, "consul_timeout_seconds"),
    ],
)
def test_broken_rules_are_refused_naming_the_property(changes: dict[str, float], named: str) -> None:
    with pytest.raises(TimingError, match=f"property '{named}'"):
        check(dataclasses.replace(Timing(), **changes))


def test_longer_ttl_allows_a_longer_lease_only_with_a_longer_lock_delay() -> None:
    with pytest.raises(TimingError, match="lock_delay_seconds"):
        check(Timing(session_ttl_seconds=30, lease_seconds=6))
    assert check(Timing(session_ttl_seconds=30, lease_seconds=6, lock_delay_seconds=8)).reaction > 0


def test_lease_allowed_only_while_session_and_heartbeat_are_fresh() -> None:
    t = Timing()
    assert lease_allowed(t, 100.0, session_ok_at=99.0, heartbeat_ok_at=99.9) is None
    assert "session TTL" in str(lease_allowed(t, 100.0, session_ok_at=91.0, heartbeat_ok_at=99.9))
    assert "heartbeat" in str(lease_allowed(t, 100.0, session_ok_at=99.0, heartbeat_ok_at=93.0))
    assert lease_allowed(t, 100.0, session_ok_at=None, heartbeat_ok_at=99.9) == "no session renewal yet"


def test_lease_end_is_anchored_at_the_calls_it_trusts_not_at_the_grant() -> None:
    t = Timing()
    fresh = lease_end(t, 100.0, proof_at=99.9, session_ok_at=99.8, heartbeat_ok_at=99.7)
    assert fresh == 99.9 + t.proxy_timeout_seconds + t.lease_seconds
    # Paused for 3 s between the proof write and the grant: the lease ends where the proof allows.
    late = lease_end(t, 103.0, proof_at=100.0, session_ok_at=99.9, heartbeat_ok_at=99.9)
    assert late == 100.0 + t.proxy_timeout_seconds + t.lease_seconds < 103.0
    assert late < 100.0 + t.lock_delay_seconds  # before anyone else could take the key
    stale_session = lease_end(t, 100.0, proof_at=100.0, session_ok_at=91.0, heartbeat_ok_at=100.0)
    assert stale_session == 91.0 + t.session_ttl_seconds


def test_a_failsafe_ttl_too_short_to_renew_before_the_lease_ends_is_refused() -> None:
    with pytest.raises(TimingError, match="failsafe_ttl_seconds"):
        check(dataclasses.replace(Timing(), failsafe_ttl_seconds=1.4))
    with pytest.raises(TimingError, match="peer_timeout_seconds"):
        check(dataclasses.replace(Timing(), peer_timeout_seconds=0))


def test_a_failsafe_lease_ends_before_the_first_promise_could() -> None:
    t = Timing()
    sent = 100.0
    # Granted late (the round took long): capped by the promise, less the clock-rate margin.
    assert failsafe_lease_end(t, sent + 1.5, confirmed_at=sent) < sent + t.failsafe_ttl_seconds
    # Granted at once: the ordinary lease length is the shorter bound.
    assert failsafe_lease_end(t, sent, confirmed_at=sent) == sent + t.proxy_timeout_seconds + t.lease_seconds


def test_without_a_proof_write_a_lease_is_over_before_it_starts() -> None:
    assert lease_end(Timing(), 100.0, proof_at=None, session_ok_at=99.9, heartbeat_ok_at=99.9) == 100.0


LONG = Timing(session_ttl_seconds=30, lease_seconds=6, lock_delay_seconds=8)
SLOW = Timing(session_ttl_seconds=15, consul_timeout_seconds=2, proxy_timeout_seconds=1, lease_seconds=2,
              lock_delay_seconds=6, heartbeat_ttl_seconds=3, failsafe_ttl_seconds=4)


@pytest.mark.parametrize("timing", [Timing(), LONG, SLOW])
def test_a_stale_holder_is_unseated_only_after_every_lease_anchored_at_its_last_proof_ended(timing: Timing) -> None:
    check(timing)
    proof_sent, seen = 100.0, 100.0  # the standby received the proof's index the instant it was sent
    latest_lease_end = max(lease_end(timing, proof_sent + late, proof_at=proof_sent, session_ok_at=proof_sent,
                                     heartbeat_ok_at=proof_sent) for late in (0.0, 0.5, 1.0, 5.0, 50.0))
    assert latest_lease_end == proof_sent + proof_lease_bound(timing)
    free_at = stale_holder_free_at(timing, seen)
    # The holder's clock may run slower than the standby's by the clock-rate margin.
    holder_clock_at_free = proof_sent + (free_at - seen) / (1 + CLOCK_RATE_MARGIN)
    assert holder_clock_at_free > latest_lease_end
