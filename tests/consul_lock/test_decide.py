"""Leadership decisions on snapshots: pure, no Consul, no proxy, no clock."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cf_mysql_consul.consul_lock.decide import (
    ACQUIRE_RETRY_SECONDS,
    Action,
    KeyView,
    ProxyState,
    Snapshot,
    armed,
    decide,
    needs_peers,
    promise_refusal,
    proves,
    rejoin_due,
    servers_to_rejoin,
    session_renewal_due,
    wants_backends,
    watch_wakes,
)
from cf_mysql_consul.consul_lock.timing import Timing, stale_holder_free_at

T = Timing()
NOW = 1000.0
MINE = KeyView(session="s-mine", lock_index=7, modify_index=70, value={"proxy": "proxy/0", "backend": "mysql/0"})
THEIRS = KeyView(session="s-other", lock_index=8, modify_index=80, value={"proxy": "proxy/1", "backend": "mysql/0"})
FREE = KeyView(session=None, lock_index=8, modify_index=81, value={"proxy": "proxy/1", "backend": "mysql/1"})


def snap(**changes: Any) -> Snapshot:
    """An active holder, everything fresh; tests change one thing."""
    base = Snapshot(
        session="s-mine", session_ok_at=NOW - 0.01, heartbeat_ok_at=NOW - 0.02, key=MINE, key_ok=True,
        consul_error=None, proxy=ProxyState.SERVING, proxy_detail="", active=True, lease_ok_at=NOW - 1.0,
        last_acquire_at=None, step_down=None, stepped_down=False, proof_at=NOW - 0.005,
    )
    return dataclasses.replace(base, **changes)


def test_holder_renews_the_lease_when_due_and_otherwise_waits() -> None:
    assert decide(snap(), NOW, T).action is Action.RENEW_LEASE
    d = decide(snap(lease_ok_at=NOW - 0.1), NOW, T)
    assert d.action is Action.NOTHING and "holding the lock (LockIndex 7)" in d.reason


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"consul_error": "read key: timeout"}, "Consul error"),
        ({"session": None}, "session gone"),
        ({"key": THEIRS}, "key held by proxy/1"),
        ({"key": FREE}, "key is free"),
        ({"key_ok": False}, "key is free"),
        ({"session_ok_at": NOW - 8.5}, "session TTL"),
        ({"heartbeat_ok_at": NOW - 7}, "heartbeat"),
    ],
)
def test_any_doubt_disables_traffic_first(changes: dict[str, Any], why: str) -> None:
    d = decide(snap(**changes), NOW, T)
    assert d.action is Action.DEACTIVATE
    assert d.reason.startswith("disabling traffic first") and why in d.reason


def test_a_serving_proxy_this_job_did_not_enable_is_disabled() -> None:
    d = decide(snap(active=False, key=THEIRS), NOW, T)
    assert d.action is Action.DEACTIVATE and "did not enable" in d.reason


def test_gone_or_draining_proxy_releases_at_once() -> None:
    assert decide(snap(proxy=ProxyState.GONE, proxy_detail="refused"), NOW, T).action is Action.RELEASE
    assert decide(snap(proxy=ProxyState.DRAINING), NOW, T).action is Action.RELEASE


def test_hung_proxy_is_released_only_after_its_lease_certainly_ran_out() -> None:
    d = decide(snap(proxy=ProxyState.UNREACHABLE, lease_ok_at=NOW - 1), NOW, T)
    assert d.action is Action.NOTHING and "waiting for its lease" in d.reason
    late = NOW - (T.lease_seconds + T.proxy_timeout_seconds)
    assert decide(snap(proxy=ProxyState.UNREACHABLE, lease_ok_at=late), NOW, T).action is Action.RELEASE


def test_standby_races_for_a_free_key_and_waits_out_lock_delay() -> None:
    standby = snap(active=False, proxy=ProxyState.STANDBY, key=FREE, lease_ok_at=None)
    assert decide(standby, NOW, T).action is Action.ACQUIRE
    refused = dataclasses.replace(standby, last_acquire_at=NOW - 0.05)
    assert "lock-delay" in decide(refused, NOW, T).reason
    held = dataclasses.replace(standby, key=THEIRS)
    d = decide(held, NOW, T)
    assert d.action is Action.NOTHING and d.reason == "standby: key held by proxy/1 (LockIndex 8)"


def test_holding_without_traffic_activates_only_when_safe() -> None:
    holder = snap(active=False, proxy=ProxyState.STANDBY, lease_ok_at=None)
    assert decide(holder, NOW, T).action is Action.ACTIVATE
    stale = dataclasses.replace(holder, session_ok_at=NOW - 9)
    assert decide(stale, NOW, T).action is Action.NOTHING


def test_no_session_is_created_while_the_proxy_is_down() -> None:
    s = snap(active=False, session=None, proxy=ProxyState.GONE, proxy_detail="refused", lease_ok_at=None)
    assert decide(s, NOW, T).action is Action.NOTHING
    assert decide(dataclasses.replace(s, proxy=ProxyState.STANDBY), NOW, T).action is Action.CREATE_SESSION


def test_step_down_wins_over_everything_and_then_stays_out() -> None:
    d = decide(snap(step_down="bin/drain", consul_error="boom"), NOW, T)
    assert d.action is Action.STEP_DOWN and "bin/drain" in d.reason
    after = snap(step_down="bin/drain", stepped_down=True, active=False, key=FREE, proxy=ProxyState.DRAINING)
    assert decide(after, NOW, T).action is Action.NOTHING


def test_standby_with_consul_down_does_nothing() -> None:
    s = snap(active=False, proxy=ProxyState.STANDBY, consul_error="refused", key_ok=False, key=None)
    assert decide(s, NOW, T).action is Action.NOTHING


# ---- failsafe: serving on every peer's promise while Consul cannot prove the lock ----------------

CONFIRMED = NOW - 0.05  # the send time of this cycle's peer round, which every peer accepted


@pytest.mark.parametrize(
    "changes",
    [{"consul_error": "read key: timeout"}, {"session": None, "key": FREE}, {"key": FREE},
     {"session_ok_at": NOW - 8.5}],
)
def test_a_holder_that_cannot_prove_the_lock_keeps_serving_on_every_peers_promise(changes: dict[str, Any]) -> None:
    s = snap(**changes)
    assert needs_peers(s, NOW, T)
    d = decide(dataclasses.replace(s, failsafe_ok_at=CONFIRMED), NOW, T)
    assert d.action is Action.RENEW_LEASE and d.failsafe and d.reason.startswith("failsafe")
    # The lease ends before the first peer's promise could: sent + failsafe_ttl, less the clock-rate margin.
    assert d.lease_until is not None and d.lease_until < CONFIRMED + T.failsafe_ttl_seconds
    assert d.lease_until <= NOW + T.proxy_timeout_seconds + T.lease_seconds


def test_without_every_peers_promise_the_holder_disables_first_and_says_who_refused() -> None:
    s = snap(consul_error="renew session: timeout", failsafe_detail="failsafe refused: proxy/1: no answer in time")
    d = decide(s, NOW, T)
    assert d.action is Action.DEACTIVATE and "proxy/1: no answer in time" in d.reason


def test_a_key_held_by_another_session_is_lost_whatever_the_peers_say() -> None:
    s = snap(key=THEIRS, failsafe_ok_at=CONFIRMED)
    assert not needs_peers(s, NOW, T)
    assert decide(s, NOW, T).action is Action.DEACTIVATE


def test_under_failsafe_the_holder_restores_the_lock_in_consul_in_the_same_cycle() -> None:
    no_session = decide(snap(session=None, key=FREE, failsafe_ok_at=CONFIRMED), NOW, T)
    assert no_session.then is Action.CREATE_SESSION
    free = decide(snap(key=FREE, failsafe_ok_at=CONFIRMED), NOW, T)
    assert free.then is Action.ACQUIRE
    unreachable = decide(snap(consul_error="timeout", key_ok=False, failsafe_ok_at=CONFIRMED), NOW, T)
    assert unreachable.then is None and unreachable.action is Action.RENEW_LEASE


def test_a_gone_proxy_is_released_even_under_failsafe() -> None:
    s = snap(consul_error="timeout", proxy=ProxyState.GONE, proxy_detail="refused", failsafe_ok_at=CONFIRMED)
    assert decide(s, NOW, T).action is Action.RELEASE


def test_a_standby_that_promised_neither_races_nor_activates() -> None:
    promised = {"promised_until": NOW + 1, "promised_to": "proxy/1"}
    racing = snap(active=False, proxy=ProxyState.STANDBY, key=FREE, lease_ok_at=None, **promised)
    d = decide(racing, NOW, T)
    assert d.action is Action.NOTHING and "promised proxy/1" in d.reason
    holder = snap(active=False, proxy=ProxyState.STANDBY, lease_ok_at=None, **promised)
    assert decide(holder, NOW, T).action is Action.NOTHING
    expired = dataclasses.replace(racing, promised_until=NOW - 0.01)
    assert decide(expired, NOW, T).action is Action.ACQUIRE


def test_a_standby_left_out_of_the_holders_peer_list_races_only_once_that_holder_is_gone() -> None:
    free = KeyView(session=None, lock_index=8, modify_index=81,
                   value={"proxy": "proxy/0", "peers": ["proxy/0", "proxy/1"], "node": "proxy-0"})
    newcomer = snap(active=False, proxy=ProxyState.STANDBY, key=free, lease_ok_at=None, me="proxy/2")
    d = decide(newcomer, NOW, T)
    assert d.action is Action.NOTHING and "not racing" in d.reason and "proxy/2" in d.reason
    assert decide(dataclasses.replace(newcomer, recorded_holder_alive=True), NOW, T).action is Action.NOTHING
    assert decide(dataclasses.replace(newcomer, recorded_holder_alive=False), NOW, T).action is Action.ACQUIRE
    listed = dataclasses.replace(newcomer, me="proxy/1")
    assert decide(listed, NOW, T).action is Action.ACQUIRE


def test_a_peer_refuses_a_promise_while_active_holding_or_racing() -> None:
    assert promise_refusal(active=False, holding=False, racing=False) is None
    assert "active" in str(promise_refusal(active=True, holding=False, racing=False))
    assert "holds the key" in str(promise_refusal(active=False, holding=True, racing=False))
    assert "racing" in str(promise_refusal(active=False, holding=False, racing=True))


# ---- what the daemon reads from the decision instead of its words --------------------------------

def test_the_next_cycle_comes_sooner_only_while_racing() -> None:
    standby = snap(active=False, proxy=ProxyState.STANDBY, key=FREE, lease_ok_at=None)
    assert decide(standby, NOW, T).delay == ACQUIRE_RETRY_SECONDS
    refused = dataclasses.replace(standby, last_acquire_at=NOW - 0.05)
    assert decide(refused, NOW, T).delay == ACQUIRE_RETRY_SECONDS
    assert decide(snap(), NOW, T).delay == T.renew_interval_seconds


def test_activation_keeps_the_predecessors_backend_only_when_it_is_healthy_and_not_already_active() -> None:
    holder = snap(active=False, proxy=ProxyState.STANDBY, lease_ok_at=None, predecessor_backend="mysql/1",
                  backend="mysql/0")
    assert wants_backends(holder)
    kept = decide(dataclasses.replace(holder, healthy_backends=frozenset({"mysql/0", "mysql/1"})), NOW, T)
    assert kept.action is Action.ACTIVATE and kept.preferred == "mysql/1" and kept.lease_until is not None
    sick = decide(dataclasses.replace(holder, healthy_backends=frozenset({"mysql/0"})), NOW, T)
    assert sick.preferred is None
    same = decide(dataclasses.replace(holder, backend="mysql/1", healthy_backends=frozenset({"mysql/1"})), NOW, T)
    assert same.preferred is None


def test_sessions_are_renewed_every_cycle_while_holding_else_at_half_their_ttl() -> None:
    due = {"session": "s", "now": NOW, "t": T}
    assert session_renewal_due(session_ok_at=NOW - 0.5, holding=True, active=False, **due)
    assert not session_renewal_due(session_ok_at=NOW - 1, holding=False, active=False, **due)
    assert session_renewal_due(session_ok_at=NOW - T.session_ttl_seconds / 2, holding=False, active=False, **due)
    assert not session_renewal_due(session=None, session_ok_at=None, holding=False, active=False, now=NOW, t=T)


def test_rejoin_only_while_the_agent_answers_and_the_servers_do_not_once_per_renew_interval() -> None:
    cut_off = snap(consul_error="read key: ReadTimeout", agent_ok=True)
    assert rejoin_due(cut_off, last_rejoin_at=None, now=NOW, t=T)
    assert not rejoin_due(cut_off, last_rejoin_at=NOW - T.renew_interval_seconds / 2, now=NOW, t=T)
    assert rejoin_due(cut_off, last_rejoin_at=NOW - T.renew_interval_seconds, now=NOW, t=T)
    assert not rejoin_due(dataclasses.replace(cut_off, agent_ok=False), last_rejoin_at=None, now=NOW, t=T)
    assert not rejoin_due(snap(consul_error=None, agent_ok=True), last_rejoin_at=None, now=NOW, t=T)


def test_only_failed_servers_are_rejoined() -> None:
    members = [
        {"Name": "consul-0", "Addr": "10.0.0.1", "Port": 8301, "Status": 4, "Tags": {"role": "consul"}},
        {"Name": "consul-1", "Addr": "10.0.0.2", "Port": 8301, "Status": 1, "Tags": {"role": "consul"}},
        {"Name": "consul-2", "Addr": "10.0.0.3", "Port": 8301, "Status": 3, "Tags": {"role": "consul"}},  # left
        {"Name": "mysql-0", "Addr": "10.0.0.4", "Port": 8301, "Status": 4, "Tags": {"role": "node"}},
    ]
    assert servers_to_rejoin(members) == ["10.0.0.1:8301"]


def test_armed_means_serving_or_ready_to_take_over() -> None:
    assert armed(snap())
    standby = snap(active=False, proxy=ProxyState.STANDBY, key=THEIRS, lease_ok_at=None)
    assert armed(standby)
    assert not armed(dataclasses.replace(standby, session=None))
    assert not armed(dataclasses.replace(standby, consul_error="refused"))
    assert not armed(dataclasses.replace(standby, proxy=ProxyState.GONE))


def test_no_failsafe_when_the_local_agent_itself_does_not_answer() -> None:
    """A dead agent takes this VM out of DNS (its node fails in gossip): serving on would help nobody."""
    s = snap(consul_error="heartbeat: connection refused", agent_ok=False, key_ok=False)
    assert not needs_peers(s, NOW, T)
    d = decide(dataclasses.replace(s, failsafe_ok_at=CONFIRMED), NOW, T)
    assert d.action is Action.DEACTIVATE and "local Consul agent does not answer" in d.reason


def standby_seeing(key: KeyView, *, seen_at: float | None, **changes: Any) -> Snapshot:
    """A healthy standby (proxy/1) with its own session, seeing ``key`` first received at ``seen_at``."""
    return snap(session="s-standby", key=key, active=False, proxy=ProxyState.STANDBY, lease_ok_at=None,
                me="proxy/1", key_seen_at=seen_at, **changes)


HELD_BY_0 = KeyView(session="s-holder", lock_index=7, modify_index=90,
                    value={"proxy": "proxy/0", "backend": "mysql/0", "peers": ["proxy/0", "proxy/1"]})


def test_a_standby_unseats_a_holder_whose_proof_is_older_than_any_lease_it_granted() -> None:
    seen = NOW - 1.0
    free_at = stale_holder_free_at(T, seen)
    waiting = decide(standby_seeing(HELD_BY_0, seen_at=seen), NOW, T)
    assert waiting.action is Action.NOTHING
    assert waiting.delay == pytest.approx(min(T.renew_interval_seconds, free_at - NOW))  # wakes when it is due
    assert decide(standby_seeing(HELD_BY_0, seen_at=seen), free_at - 0.001, T).action is Action.NOTHING
    d = decide(standby_seeing(HELD_BY_0, seen_at=seen), free_at, T)
    assert d.action is Action.UNSEAT and "proxy/0" in d.reason


@pytest.mark.parametrize(("changes", "why"), [
    ({"promised_until": NOW + 1, "promised_to": "proxy/0"}, "promised the holder not to take over"),
    ({"me": "proxy/2"}, "not in the peer list the holder asks for promises"),
    ({"key_seen_at": None}, "the index was never received (a new read after a different one)"),
    ({"key": dataclasses.replace(HELD_BY_0, value={"proxy": "proxy/0"})}, "no recorded peer list"),
    ({"consul_error": "timeout"}, "Consul does not answer"),
    ({"proxy": ProxyState.GONE}, "its own proxy is gone"),
])
def test_a_standby_never_unseats_when(changes: dict[str, Any], why: str) -> None:
    s = dataclasses.replace(standby_seeing(HELD_BY_0, seen_at=NOW - 100.0), **changes)
    assert decide(s, NOW, T).action is not Action.UNSEAT, why


def test_the_holder_proves_by_writing_only_while_its_last_view_shows_its_session() -> None:
    assert proves(session="s-mine", key=MINE)
    assert not proves(session="s-mine", key=THEIRS)
    assert not proves(session="s-mine", key=FREE)
    assert not proves(session=None, key=MINE)
    assert not proves(session="s-mine", key=None)


def test_the_watch_wakes_on_a_new_holder_not_on_the_holders_proof_writes() -> None:
    proof = dataclasses.replace(MINE, modify_index=MINE.modify_index + 1, value={"updated": "later"})
    assert not watch_wakes(MINE, proof)
    assert watch_wakes(MINE, FREE) and watch_wakes(MINE, THEIRS) and watch_wakes(None, MINE)
    assert watch_wakes(MINE, dataclasses.replace(MINE, lock_index=MINE.lock_index + 1))
