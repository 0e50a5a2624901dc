"""The state of the shared lab that a lab test needs, and the one way the tests put the lab there.

A lab test states what it needs with the ``lab_state`` marker, e.g.
``@pytest.mark.lab_state(holder="proxy/0", backend="mysql/0")``; the ``lab`` fixture
(tests/conftest.py) moves the shared lab into that state before the test and checks it holds.
A test without the marker needs ``LabState()``. Every state includes *no fault*: no partition,
every process running and none paused, both Galera nodes Synced in one view of three, every
Consul agent alive, every proxy answering, not draining, and judging every backend healthy.

``decide`` is pure: from one ``LabSnapshot``, the next ``Step`` towards the state, or None when
the lab is in it. ``establish`` observes, decides and acts until then, and moves the lab only
through its real mechanisms: ``lab.heal``, ``lab.resume``, ``lab.up`` (start what is not
running), BOSH-style ``bin/drain`` handovers of the lock, the proxy API's ``preferredBackend``,
and stopping the consul-lock jobs as BPM does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import pymysql
import requests

from cf_mysql_consul.proxy.client import ApiError
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.benchmarks.labproxy import LOCK_JOB, LabProxy, galera_settled, stop_lock_jobs
from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab import lock_checks as lc
from cf_mysql_consul_tools.lab.lab import LabError
from cf_mysql_consul_tools.lab.processes import process_state

# consul-lock rewrites its state file every cycle (about once a second); an older file is from a
# process that is gone or hung, and says nothing about the lock now.
LOCK_STATE_FRESH_SECONDS = 10.0
ESTABLISH_TIMEOUT_SECONDS = 300.0  # lab.up may wait for a full SST of a node that was cycled


@dataclass(frozen=True, slots=True)
class LabState:
    """What a lab test needs, beyond no fault.

    ``consul_lock``: True, every consul-lock runs and is armed and exactly one proxy serves (the lock
    holder's); False, every consul-lock is stopped and no proxy serves (tests that drive traffic
    through the proxy API by hand). ``holder``: the proxy that holds the lock and serves (None:
    whichever). ``backend``: the Galera node every proxy sends clients to (None: whichever).
    """

    consul_lock: bool = True
    holder: str | None = None
    backend: str | None = None

    def __post_init__(self) -> None:
        if self.holder is not None and not self.consul_lock:
            raise ValueError("lab_state: a lock holder needs consul_lock=True")

    def describe(self) -> str:
        """One line, e.g. ``no fault, consul-lock armed, holder proxy/0, backend any``."""
        lock = "consul-lock armed" if self.consul_lock else "consul-lock stopped, no proxy serving"
        return f"no fault, {lock}, holder {self.holder or 'any'}, backend {self.backend or 'any'}"


@dataclass(frozen=True, slots=True)
class ProxySnapshot:
    """One proxy instance: its API's answer and its consul-lock's state file."""

    name: str
    answered: bool
    serving: bool = False
    draining: bool = False
    backend: str | None = None
    preferred: str | None = None
    healthy: frozenset[str] = frozenset()
    lock_running: bool = False
    armed: bool = False  # the running consul-lock's fresh state file says armed
    stepped_down: bool = False  # its consul-lock handed over on drain and waits to be stopped


@dataclass(frozen=True, slots=True)
class LabSnapshot:
    """The shared lab at one moment, as far as a test's state is concerned."""

    partitions: tuple[str, ...]
    paused: tuple[str, ...]  # "instance process", e.g. "mysql/0 mysql.mariadbd"
    stopped: tuple[str, ...]  # the same, or "instance (nothing started)" after lab.down
    galera_settled: bool  # every node Synced in one view of all members
    galera: str  # each node's state, for the reason of a wait
    consul_not_alive: tuple[str, ...]  # agents the Consul servers do not list alive ("?" when none answers)
    backends: tuple[str, ...]
    proxies: tuple[ProxySnapshot, ...]


class Action(Enum):
    """What ``establish`` does next."""

    HEAL = "heal"  # lift every partition
    RESUME = "resume"  # SIGCONT every paused process
    RESTART = "restart"  # stop a drained proxy and its consul-lock (START brings them back)
    START = "start"  # lab.up: start what is not running and wait until healthy
    START_PROCESSES = "start_processes"  # start these processes only (lab.up would start consul-lock too)
    STOP_LOCK = "stop_lock"  # stop every consul-lock (each disables its proxy first)
    DISABLE = "disable"  # turn a proxy's traffic off through its API
    HAND_OVER = "hand_over"  # run the holder's proxy and consul-lock bin/drain, then stop both
    SWITCH = "switch"  # PATCH preferredBackend on a proxy
    WAIT = "wait"  # something is on its way (a rejoin, an election): look again


@dataclass(frozen=True, slots=True)
class Step:
    """One step: the action, on which proxy, backend or processes (``instance process``), and why."""

    action: Action
    reason: str
    proxy: str | None = None
    backend: str | None = None
    processes: tuple[str, ...] = ()


def _lock_process(key: str) -> bool:
    return key.split(" ", 1)[1].startswith(LOCK_JOB + ".")


NOTHING_STARTED = " (nothing started)"  # an instance without a process record, as after lab.down


def decide(snapshot: LabSnapshot, want: LabState) -> Step | None:
    """The next step that brings the lab from ``snapshot`` towards ``want``; None when it is there."""
    s = snapshot
    if s.partitions:
        return Step(Action.HEAL, f"partitions in force: {'; '.join(s.partitions)}")
    if s.paused:
        return Step(Action.RESUME, f"paused: {', '.join(s.paused)}")
    for p in s.proxies:
        if p.draining or p.stepped_down:
            why = "its proxy drains" if p.draining else "its consul-lock stepped down"
            return Step(Action.RESTART, f"{p.name}: {why}; restarted as BOSH does after a drain", proxy=p.name)
    missing = tuple(k for k in s.stopped if want.consul_lock or not _lock_process(k))
    if missing:
        some = not want.consul_lock and not any(k.endswith(NOTHING_STARTED) for k in missing)
        return Step(Action.START_PROCESSES if some else Action.START, f"not running: {', '.join(missing)}",
                    processes=missing)
    if not want.consul_lock and any(p.lock_running for p in s.proxies):
        return Step(Action.STOP_LOCK, "consul-lock runs on " + ", ".join(p.name for p in s.proxies if p.lock_running))
    if not s.galera_settled:
        return Step(Action.WAIT, f"Galera not settled: {s.galera}")
    if s.consul_not_alive:
        return Step(Action.WAIT, f"Consul agents not alive: {', '.join(s.consul_not_alive)}")
    for p in s.proxies:
        if not p.answered:
            return Step(Action.WAIT, f"{p.name}'s API does not answer")
        if not set(s.backends) <= p.healthy:
            return Step(Action.WAIT, f"{p.name} judges healthy only {sorted(p.healthy)}")
    serving = [p.name for p in s.proxies if p.serving]
    if want.consul_lock:
        unarmed = [p.name for p in s.proxies if not p.armed]
        if unarmed:
            return Step(Action.WAIT, f"consul-lock not armed on {', '.join(unarmed)}")
        if len(serving) != 1:
            return Step(Action.WAIT, f"serving: {serving or 'none'} (one expected)")
        if want.holder is not None and serving != [want.holder]:
            return Step(Action.HAND_OVER, f"{serving[0]} holds the lock, {want.holder} should", proxy=serving[0])
    elif serving:
        return Step(Action.DISABLE, f"{serving[0]} serves without consul-lock", proxy=serving[0])
    pending = [p for p in s.proxies if p.preferred is not None]
    if pending:  # consumed (or dropped) at the proxy's next selection
        return Step(Action.WAIT, f"{pending[0].name} has preferred backend {pending[0].preferred} pending")
    if want.backend is not None:
        for p in s.proxies:
            if p.backend != want.backend:
                return Step(Action.SWITCH, f"{p.name} sends clients to {p.backend}, {want.backend} wanted",
                            proxy=p.name, backend=want.backend)
    return None


def observe(lab: Lab) -> LabSnapshot:
    """One snapshot of the shared lab (reads only)."""
    paused, stopped = [], []
    for inst in lab.deployment.instances:
        records = lab.records(inst)
        if not records:
            stopped.append(inst.name + NOTHING_STARTED)
        for record in records:
            state = process_state(record)
            if state != "running":
                (paused if state == "paused" else stopped).append(f"{inst.name} {record.key}")
    backends = tuple(i.name for i in lab.deployment.with_job("mysql"))
    settled = _galera_settled(lab, backends)
    return LabSnapshot(
        partitions=tuple(c.describe() for c in lab.partitions()),
        paused=tuple(paused), stopped=tuple(stopped), galera_settled=settled,
        galera="" if settled else ", ".join(f"{r.name} {r.galera}" for r in lab.status() if r.name in backends),
        consul_not_alive=_consul_not_alive(lab), backends=backends,
        proxies=tuple(_proxy(lab, i.name) for i in lab.deployment.with_job("proxy")),
    )


def _galera_settled(lab: Lab, nodes: tuple[str, ...]) -> bool:
    members = len(nodes) + len(lab.deployment.with_job("arbitrator"))
    try:
        return galera_settled(lab, nodes, members)
    except (pymysql.MySQLError, OSError, LabError):
        return False


def _consul_not_alive(lab: Lab) -> tuple[str, ...]:
    agents = lab.deployment.with_job("consul_agent")
    for server in agents:
        try:
            members = lab.consul_members(via=server.name)
        except (requests.RequestException, ValueError):
            continue
        return tuple(i.slug for i in agents if members.get(i.slug) != "alive")
    return ("?",) if agents else ()


def _proxy(lab: Lab, name: str) -> ProxySnapshot:
    record = lab.table(lab.instance(name)).get(f"{LOCK_JOB}.{LOCK_JOB}")
    lock_running = record is not None and process_state(record) == "running"
    state = lc.lock_state(lab, name)
    # Only what the running process wrote: a restarted consul-lock finds its predecessor's file.
    own = lock_running and record is not None and state.get("pid") == record.pid
    fresh = own and time.monotonic() - float(state.get("monotonic", 0)) < LOCK_STATE_FRESH_SECONDS
    client = access.proxy_client(lab.deployment, name, timeout=5)
    try:
        doc = client.cluster()
        healthy = frozenset(str(b["name"]) for b in client.backends() if b.get("healthy"))
    except ApiError:
        return ProxySnapshot(name, answered=False, lock_running=lock_running)
    return ProxySnapshot(
        name, answered=True, serving=bool(doc.get("trafficEnabled")), draining=bool(doc.get("draining")),
        backend=(doc.get("activeBackend") or {}).get("name"), preferred=doc.get("preferredBackend"),
        healthy=healthy, lock_running=lock_running,
        armed=fresh and bool(state.get("armed")), stepped_down=fresh and bool(state.get("stepped_down")),
    )


def act(lab: Lab, step: Step) -> None:
    """Carry out ``step`` on the lab (WAIT does nothing)."""
    proxy = step.proxy or ""
    if step.action is Action.HEAL:
        lab.heal()
    elif step.action is Action.RESUME:
        for inst in lab.deployment.instances:
            lab.resume(inst.name)
    elif step.action is Action.RESTART:
        lab.stop(proxy, LOCK_JOB)
        lab.stop(proxy, "proxy")
    elif step.action is Action.START:
        lab.up()
    elif step.action is Action.START_PROCESSES:
        for item in step.processes:
            lab.start(*item.split(" ", 1))
    elif step.action is Action.STOP_LOCK:
        stop_lock_jobs(lab)
    elif step.action is Action.DISABLE:
        LabProxy.of(lab, proxy).disable("lab_state: no proxy serves while consul-lock is stopped")
    elif step.action is Action.HAND_OVER:
        outputs = lc.run_drains(lab, proxy)
        if outputs != {"proxy": "0", "consul-lock": "0"}:
            raise LabError(f"lab_state: the drains on {proxy} printed {outputs}, not 0")
        lc.wait_one_active(lab, other_than=proxy, timeout=60)
        lab.stop(proxy, LOCK_JOB)  # what BOSH does once the drains returned
        lab.stop(proxy, "proxy")
    elif step.action is Action.SWITCH:
        LabProxy.of(lab, proxy).patch(preferredBackend=step.backend)


def establish(lab: Lab, want: LabState, *, timeout: float = ESTABLISH_TIMEOUT_SECONDS,
              log: Callable[[str], None] = print) -> list[Step]:
    """Move the lab into ``want`` and return once it holds; the steps taken (a step repeated at once,
    e.g. a WAIT, counts once). A step that fails is logged and the lab observed again (a rejoin
    can fail once, e.g. while the donor still serves the transfer of a node killed mid-SST).
    Raises ``LabError`` naming the state, the last step and the last failure after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    taken: list[Step] = []
    failure = ""
    while True:
        step = decide(observe(lab), want)
        if step is None:
            return taken
        if not taken or taken[-1] != step:
            log(f"lab_state: {step.action.value}: {step.reason}")
            taken.append(step)
        if time.monotonic() > deadline:
            raise LabError(f"lab_state: not in state ({want.describe()}) after {timeout:g} s; last step: "
                           f"{step.action.value}: {step.reason}" + (f"; last failure: {failure}" if failure else ""))
        try:
            act(lab, step)
        except (LabError, TimeoutError, OSError, ApiError, pymysql.MySQLError) as exc:
            failure = f"{step.action.value}: {type(exc).__name__}: {exc}"
            log(f"lab_state: {failure}; looking again")
        if step.action is Action.WAIT:
            time.sleep(0.2)


__all__ = ["Action", "LabSnapshot", "LabState", "ProxySnapshot", "Step", "decide", "establish", "observe"]
