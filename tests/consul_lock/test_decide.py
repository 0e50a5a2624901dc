"""Leadership decisions on snapshots: pure, no Consul, no proxy, no clock."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cf_mysql_consul.consul_lock.decide import Action, KeyView, ProxyState, Snapshot, decide
from cf_mysql_consul.consul_lock.timing import Timing

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
        last_acquire_at=None, step_down=None, stepped_down=False,
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
        ({"session_ok_at": NOW - 8}, "session TTL"),
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
