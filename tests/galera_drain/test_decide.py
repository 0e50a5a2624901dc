"""The drain and post-start verdicts: pure, no I/O."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cf_mysql_consul.galera_drain.decide import (
    Action,
    DrainConfig,
    DrainSnapshot,
    NodeStatus,
    Outcome,
    PeerStatus,
    PostStartConfig,
    ProxyView,
    decide,
    decide_post_start,
)

CONFIG = DrainConfig(max_wait_seconds=100, quiet_seconds=10, poll_seconds=5, max_writes_per_second=50)
SYNCED = NodeStatus(running=True, state="Synced", ready=True, cluster_status="Primary", cluster_size=3)
PEER_OK = PeerStatus("mysql/1", True, "Synced")


def snap(**kw: object) -> DrainSnapshot:
    base = DrainSnapshot(node_name="mysql/0", node=SYNCED, peers=(PEER_OK,), proxy=ProxyView(), started_at=0.0,
                         quiet_since=None, switchover_requested_at=None)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_not_running_proceeds_at_once() -> None:
    d = decide(snap(node=NodeStatus(running=False, error="gone")), 1, CONFIG)
    assert d.action is Action.PROCEED and d.drain_output == 0 and "not running" in d.reason


def test_quiet_streak_starts_then_proceeds_after_quiet_seconds() -> None:
    first = decide(snap(), 1.0, CONFIG)
    assert first.action is Action.WAIT and first.quiet_since == 1.0 and first.drain_output < 0
    later = decide(snap(quiet_since=1.0), 11.5, CONFIG)
    assert later.action is Action.PROCEED and later.drain_output == 0


def test_load_above_threshold_resets_the_streak() -> None:
    busy = replace(SYNCED, writes_per_second=400)
    d = decide(snap(node=busy, quiet_since=1.0), 20, CONFIG)
    assert d.action is Action.WAIT and d.quiet_since is None and "400 writes/s > 50" in d.reason


@pytest.mark.parametrize("field,value,words", [
    ("recv_queue", 100, "receive queue 100"), ("flow_control_paused", 0.5, "flow control"),
    ("threads_running", 50, "threads running")])
def test_every_load_signal_counts(field: str, value: float, words: str) -> None:
    d = decide(snap(node=replace(SYNCED, **{field: value})), 5, CONFIG)
    assert d.action is Action.WAIT and words in d.reason


def test_waits_while_a_peer_is_unhealthy_even_when_quiet() -> None:
    d = decide(snap(peers=(PeerStatus("mysql/1", False, "Joining: receiving State Transfer"),), quiet_since=0.0),
               50, CONFIG)
    assert d.action is Action.WAIT and "mysql/1" in d.reason and d.quiet_since is None


def test_max_wait_with_proceed_and_fail_policies() -> None:
    busy = snap(node=replace(SYNCED, writes_per_second=400))
    assert decide(busy, 100, CONFIG).action is Action.PROCEED
    failed = decide(busy, 100, replace(CONFIG, policy="fail"))
    assert failed.action is Action.FAIL and "400 writes/s" in failed.reason and "max_wait_policy" in failed.reason


def test_job_shutdown_with_every_peer_down_never_blocks() -> None:
    down = (PeerStatus("mysql/1", False, "unreachable: connection refused"),)
    assert decide(snap(peers=down, job_shutdown=True), 1, CONFIG).action is Action.PROCEED
    assert decide(snap(peers=down), 1, CONFIG).action is Action.WAIT  # a rolling update waits for the peer
    late = decide(snap(peers=down, job_shutdown=True), 500, replace(CONFIG, policy="fail"))
    assert late.action is Action.PROCEED


def test_deleting_deployment_proceeds() -> None:
    d = decide(snap(peers=(PeerStatus("mysql/1", False, "Donor"),), deployment_deleting=True), 1, CONFIG)
    assert d.action is Action.PROCEED


def test_switchover_when_the_active_proxy_uses_this_node() -> None:
    proxy = ProxyView(active_proxy="proxy/0", active_backend="mysql/0", healthy_backends=("mysql/0", "mysql/1"))
    d = decide(snap(proxy=proxy), 1, CONFIG)
    assert d.action is Action.SWITCHOVER and d.switch_to == "mysql/1" and d.drain_output < 0
    asked = decide(snap(proxy=proxy, switchover_requested_at=1.0), 3, CONFIG)
    assert asked.action is Action.WAIT and "move its clients" in asked.reason
    assert decide(snap(proxy=proxy, switchover_requested_at=1.0), 20, CONFIG).action is Action.SWITCHOVER
    moved = replace(proxy, active_backend="mysql/1")
    assert decide(snap(proxy=moved, quiet_since=0.0), 20, CONFIG).action is Action.PROCEED


def test_config_refuses_quiet_longer_than_max_wait() -> None:
    with pytest.raises(ValueError, match="quiet_seconds"):
        DrainConfig(max_wait_seconds=10, quiet_seconds=10).validate()
    with pytest.raises(ValueError, match="max_wait_policy"):
        DrainConfig(policy="maybe").validate()


def test_post_start_verdicts() -> None:
    cfg = PostStartConfig(timeout_seconds=60, max_recv_queue=0)
    assert decide_post_start(SYNCED, 1, cfg).done
    joining = NodeStatus(running=True, state="Joined", ready=False, cluster_status="Primary", recv_queue=40)
    waiting = decide_post_start(joining, 5, cfg)
    assert not waiting.done and not waiting.failed
    timed_out = decide_post_start(joining, 60, cfg)
    assert timed_out.failed and "Joined" in timed_out.reason and "receive queue 40" in timed_out.reason
    assert not decide_post_start(replace(SYNCED, recv_queue=3), 1, cfg).done


def test_a_steady_load_is_waited_for_only_max_load_wait_seconds() -> None:
    """The seed B run waited 300 s for a quiet that never came, growing the data, then stopped anyway."""
    busy = snap(node=replace(SYNCED, writes_per_second=400))
    cfg = replace(CONFIG, max_load_wait_seconds=30)
    assert decide(busy, 29, cfg).action is Action.WAIT
    go = decide(busy, 30, cfg)
    assert go.action is Action.PROCEED and "steady load" in go.reason and "400 writes/s" in go.reason
    sick = snap(node=replace(SYNCED, writes_per_second=400), peers=(PeerStatus("mysql/1", False, "Joined"),))
    assert decide(sick, 60, cfg).action is Action.WAIT  # cluster health is never skipped before max_wait


def test_every_end_of_a_drain_names_its_outcome_and_a_wait_none() -> None:
    """The outcome is what galera-drain's metrics count: one per PROCEED or FAIL, none while waiting."""
    busy = replace(SYNCED, writes_per_second=400)
    down = (PeerStatus("mysql/1", False, "unreachable: connection refused"),)
    cases = [
        (decide(snap(quiet_since=1.0), 11.5, CONFIG), Outcome.QUIET),
        (decide(snap(node=busy), 30, replace(CONFIG, max_load_wait_seconds=30)), Outcome.STEADY_LOAD),
        (decide(snap(node=busy), 100, CONFIG), Outcome.MAX_WAIT),
        (decide(snap(node=busy), 100, replace(CONFIG, policy="fail")), Outcome.FAILED),
        (decide(snap(peers=down, job_shutdown=True), 1, CONFIG), Outcome.PEERS_DOWN),
        (decide(snap(node=NodeStatus(running=False)), 1, CONFIG), Outcome.NOT_RUNNING),
        (decide(snap(deployment_deleting=True), 1, CONFIG), Outcome.DELETING),
    ]
    for decision, outcome in cases:
        assert decision.action in (Action.PROCEED, Action.FAIL) and decision.outcome is outcome, decision
    assert decide(snap(), 1, CONFIG).outcome is None
