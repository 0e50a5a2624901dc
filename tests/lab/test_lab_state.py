"""The lab-state fixture's decisions (pure, from snapshots), and on the real shared lab: it moves the
lock holder and the backend through the real mechanisms, without two proxies ever serving at once."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab import lock_checks as lc
from tests.lab_state import Action, LabSnapshot, LabState, ProxySnapshot, decide, establish

NODES = ("mysql/0", "mysql/1")
HEALTHY = frozenset(NODES)


def proxy(name: str, **changes: object) -> ProxySnapshot:
    """A proxy in the default state: answering, consul-lock running and armed, on mysql/0."""
    base = ProxySnapshot(name, answered=True, backend="mysql/0", healthy=HEALTHY, lock_running=True, armed=True)
    return replace(base, **changes)


def snapshot(*proxies: ProxySnapshot, **changes: object) -> LabSnapshot:
    """A lab without fault; proxy/0 serves unless ``proxies`` say otherwise."""
    base = LabSnapshot(partitions=(), paused=(), stopped=(), galera_settled=True, galera="", consul_not_alive=(),
                       backends=NODES, proxies=proxies or (proxy("proxy/0", serving=True), proxy("proxy/1")))
    return replace(base, **changes)


def action(lab: LabSnapshot, want: LabState) -> Action | None:
    step = decide(lab, want)
    return step.action if step is not None else None


def test_a_lab_in_the_state_needs_no_step() -> None:
    assert decide(snapshot(), LabState()) is None
    assert decide(snapshot(), LabState(holder="proxy/0", backend="mysql/0")) is None


def test_faults_are_lifted_first_in_order_heal_resume_start() -> None:
    faulted = snapshot(partitions=("proxy/1 | rest",), paused=("mysql/0 mysql.mariadbd",),
                       stopped=("consul/0 consul_agent.consul",))
    assert action(faulted, LabState()) is Action.HEAL
    assert action(replace(faulted, partitions=()), LabState()) is Action.RESUME
    step = decide(replace(faulted, partitions=(), paused=()), LabState())
    assert step is not None and step.action is Action.START and "consul/0" in step.reason


def test_a_stopped_consul_lock_is_started_only_when_the_state_wants_it() -> None:
    no_lock = (proxy("proxy/0", lock_running=False, armed=False), proxy("proxy/1", lock_running=False, armed=False))
    stopped = snapshot(*no_lock, stopped=("proxy/0 consul-lock.consul-lock", "proxy/1 consul-lock.consul-lock"))
    assert action(stopped, LabState()) is Action.START
    assert decide(stopped, LabState(consul_lock=False)) is None
    # Without consul-lock, a killed node is started alone: lab.up would start the lock jobs too.
    killed = replace(stopped, stopped=(*stopped.stopped, "mysql/0 mysql.mariadbd"))
    step = decide(killed, LabState(consul_lock=False))
    assert step is not None and (step.action, step.processes) == (Action.START_PROCESSES, ("mysql/0 mysql.mariadbd",))
    after_down = replace(stopped, stopped=("mysql/0 (nothing started)",))
    assert action(after_down, LabState(consul_lock=False)) is Action.START


def test_without_consul_lock_the_lock_jobs_are_stopped_and_a_serving_proxy_disabled() -> None:
    assert action(snapshot(), LabState(consul_lock=False)) is Action.STOP_LOCK
    serving = snapshot(proxy("proxy/0", serving=True, lock_running=False), proxy("proxy/1", lock_running=False))
    step = decide(serving, LabState(consul_lock=False))
    assert step is not None and (step.action, step.proxy) == (Action.DISABLE, "proxy/0")


def test_transient_states_are_waited_for_not_acted_on() -> None:
    for lab in (snapshot(galera_settled=False), snapshot(consul_not_alive=("proxy-1",)),
                snapshot(proxy("proxy/0", serving=True), proxy("proxy/1", armed=False)),
                snapshot(proxy("proxy/0", serving=True), proxy("proxy/1", healthy=frozenset({"mysql/0"}))),
                snapshot(proxy("proxy/0"), proxy("proxy/1")),  # nobody serves yet: an election
                snapshot(proxy("proxy/0", serving=True, preferred="mysql/1"), proxy("proxy/1"))):
        step = decide(lab, LabState(backend="mysql/1"))
        assert step is not None and step.action is Action.WAIT, step


def test_the_holder_is_moved_by_a_drain_handover_of_the_current_one() -> None:
    on_1 = snapshot(proxy("proxy/0"), proxy("proxy/1", serving=True))
    step = decide(on_1, LabState(holder="proxy/0"))
    assert step is not None and (step.action, step.proxy) == (Action.HAND_OVER, "proxy/1")
    assert decide(on_1, LabState(holder="proxy/1")) is None


def test_a_drained_proxy_is_restarted_before_anything_else_but_faults() -> None:
    drained = snapshot(proxy("proxy/0", draining=True), proxy("proxy/1", serving=True))
    step = decide(drained, LabState())
    assert step is not None and (step.action, step.proxy) == (Action.RESTART, "proxy/0")
    stepped_down = snapshot(proxy("proxy/0", stepped_down=True), proxy("proxy/1", serving=True))
    assert action(stepped_down, LabState()) is Action.RESTART


def test_every_proxy_is_switched_to_the_wanted_backend_once_the_holder_is_right() -> None:
    on_1 = snapshot(proxy("proxy/0", serving=True, backend="mysql/1"), proxy("proxy/1", backend="mysql/1"))
    step = decide(on_1, LabState(holder="proxy/0", backend="mysql/0"))
    assert step is not None and (step.action, step.proxy, step.backend) == (Action.SWITCH, "proxy/0", "mysql/0")
    half = replace(on_1, proxies=(proxy("proxy/0", serving=True), proxy("proxy/1", backend="mysql/1")))
    step = decide(half, LabState(backend="mysql/0"))
    assert step is not None and (step.action, step.proxy) == (Action.SWITCH, "proxy/1")


def test_a_holder_without_consul_lock_is_refused() -> None:
    with pytest.raises(ValueError, match="holder needs consul_lock=True"):
        LabState(consul_lock=False, holder="proxy/0")


@pytest.mark.integration
def test_the_fixture_moves_holder_and_backend_with_the_real_mechanisms(lab: Lab) -> None:
    """From whatever the lab is in, to the other holder and the other backend, and back: each state is
    reached, checked by the lab's own view, and the serving audit finds no overlap throughout."""
    t0 = time.monotonic()
    holder, _ = lc.wait_ready(lab)
    backend = access.active_backend(lab.deployment, holder)
    assert backend is not None
    other_holder = next(p for p in lc.proxies(lab) if p != holder)
    other_backend = next(n for n in NODES if n != backend)
    for want in (LabState(holder=other_holder, backend=other_backend), LabState(holder=holder, backend=backend)):
        steps = establish(lab, want)
        assert {Action.HAND_OVER, Action.SWITCH} <= {s.action for s in steps}, steps
        assert access.serving(lab.deployment) == [want.holder]
        assert {p: access.active_backend(lab.deployment, p) for p in lc.proxies(lab)} == dict.fromkeys(
            lc.proxies(lab), want.backend)
        # Already there: nothing to do (a health check slowed by a busy machine may still be waited for).
        assert [s for s in establish(lab, want) if s.action is not Action.WAIT] == []
    report = lc.audit_lab(lab, since=t0)
    assert report.ok, report.describe()
    print(f"two holder and backend moves in {time.monotonic() - t0:.1f} s")
