"""The galera-drain verdicts: pure functions of one immutable snapshot (no I/O, no clock).

``decide`` answers BOSH's drain question for a MySQL node ("may this node stop now?"), one
call per drain invocation. Rules, in order:

1. mysqld is not running, or the deployment is being deleted: proceed (nothing to protect).
2. ``max_wait`` passed since the first call: the policy decides (proceed, or fail with the
   reason that kept us waiting). On ``job_shutdown`` the policy is always proceed once every
   other data node is down: a whole-deployment stop must never block on the nodes it stopped.
3. Blocking, in this order: the local node is not Synced/ready; the cluster is not Primary;
   another data node is not healthy (galera-healthcheck). While one holds, wait.
4. Planned switchover: if the active proxy sends clients to this node, ask it to move to a
   healthy peer (once; re-asked after ``switchover_retry_seconds``) and wait until it has.
5. Load: writes/s, receive queue, flow control and threads running must stay at or below
   their thresholds for ``quiet_seconds`` in a row (``quiet_since`` carries the streak
   between invocations). Then proceed. A load that has not eased within
   ``max_load_wait_seconds`` is taken as the steady load it is: proceed (the cluster is
   healthy, the switchover is done). Waiting longer only makes things worse: every second
   of waiting adds rows the node must hold and, after the stop, write-sets it must catch up
   on; the seed's B run waited 300 s at 400 writes/s for a quiet that never came and then
   stopped anyway, with ~120 MB more data. The rejoin itself is protected elsewhere
   (pre-start catch-up, ``pre_start.py``).

``decide_post_start`` answers post-start's question ("has the node rejoined?").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(Enum):
    """What the drain invocation does."""

    WAIT = "wait"  # print -poll_seconds: BOSH calls again with job_check_status
    SWITCHOVER = "switchover"  # ask the active proxy to move, then wait
    PROCEED = "proceed"  # print 0: BOSH stops the job
    FAIL = "fail"  # exit 1 with the reason: BOSH fails the deploy


class Outcome(Enum):
    """Why a drain ended (a PROCEED or FAIL verdict): what its metrics count."""

    QUIET = "quiet"  # cluster healthy, load quiet for quiet_seconds
    STEADY_LOAD = "steady_load"  # cluster healthy, the load never eased within max_load_wait_seconds
    MAX_WAIT = "max_wait"  # max_wait passed, proceeding anyway
    FAILED = "failed"  # max_wait passed, the policy says fail
    PEERS_DOWN = "peers_down"  # job_shutdown with every other data node already down
    NOT_RUNNING = "not_running"  # mysqld was not running: nothing to drain
    DELETING = "deleting"  # the deployment is being deleted


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """The local node as its status counters show it over one short sample."""

    running: bool
    state: str = "unknown"  # wsrep_local_state_comment
    ready: bool = False
    cluster_status: str = "unknown"
    cluster_size: int = 0
    recv_queue: int = 0
    writes_per_second: float = 0.0  # cluster-wide commits (wsrep_last_committed delta)
    flow_control_paused: float = 0.0  # fraction of the sample spent paused by flow control
    threads_running: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """Another data node as its galera-healthcheck answers."""

    name: str
    healthy: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ProxyView:
    """What the active proxy says (None fields: no proxy configured, or none answers)."""

    active_proxy: str | None = None
    active_backend: str | None = None
    healthy_backends: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DrainSnapshot:
    """Everything one drain verdict reads, captured at one instant (wall-clock seconds)."""

    node_name: str
    node: NodeStatus
    peers: tuple[PeerStatus, ...]
    proxy: ProxyView
    started_at: float  # first call of this drain (state file)
    quiet_since: float | None  # start of the current below-threshold streak
    switchover_requested_at: float | None
    job_shutdown: bool = False
    deployment_deleting: bool = False


@dataclass(frozen=True, slots=True)
class DrainConfig:
    """Tunables of the drain verdict; ``validate`` refuses broken combinations."""

    max_wait_seconds: float = 600.0
    quiet_seconds: float = 10.0
    poll_seconds: int = 5
    policy: str = "proceed"  # or "fail"
    max_writes_per_second: float = 50.0
    max_recv_queue: int = 10
    max_flow_control_paused: float = 0.1
    max_threads_running: int = 8
    switchover: bool = True
    switchover_retry_seconds: float = 15.0
    max_load_wait_seconds: float = 120.0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the property when a value cannot work."""
        if self.policy not in ("proceed", "fail"):
            raise ValueError(f"property 'galera_drain.max_wait_policy' must be proceed or fail, got {self.policy!r}")
        if self.poll_seconds < 1:
            raise ValueError(f"property 'galera_drain.poll_seconds' must be at least 1, got {self.poll_seconds}")
        if self.max_wait_seconds <= 0:
            raise ValueError(f"property 'galera_drain.max_wait_seconds' must be above 0, got {self.max_wait_seconds:g}")
        if self.quiet_seconds < 0:
            raise ValueError(f"property 'galera_drain.quiet_seconds' must be at least 0, got {self.quiet_seconds:g}")
        if self.max_load_wait_seconds < 0:
            raise ValueError(f"property 'galera_drain.max_load_wait_seconds' must be at least 0, got "
                             f"{self.max_load_wait_seconds:g}")
        if self.quiet_seconds >= self.max_wait_seconds:
            raise ValueError(
                f"property 'galera_drain.quiet_seconds' ({self.quiet_seconds:g}) must be below "
                f"'galera_drain.max_wait_seconds' ({self.max_wait_seconds:g}): the load could never be judged quiet "
                "in time")


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict: an action, the wait for BOSH, the streak to remember, and why in words."""

    action: Action
    reason: str
    wait_seconds: int = 0
    quiet_since: float | None = None
    switch_to: str | None = None
    outcome: Outcome | None = None  # set on PROCEED and FAIL

    @property
    def drain_output(self) -> int:
        """The one integer bin/drain prints: negative = call again after that many seconds."""
        return -self.wait_seconds if self.action in (Action.WAIT, Action.SWITCHOVER) else 0


def _load_excess(node: NodeStatus, config: DrainConfig) -> list[str]:
    excess = []
    if node.writes_per_second > config.max_writes_per_second:
        excess.append(f"{node.writes_per_second:.0f} writes/s > {config.max_writes_per_second:g}")
    if node.recv_queue > config.max_recv_queue:
        excess.append(f"receive queue {node.recv_queue} > {config.max_recv_queue}")
    if node.flow_control_paused > config.max_flow_control_paused:
        excess.append(f"flow control paused {node.flow_control_paused:.2f} > {config.max_flow_control_paused:g}")
    if node.threads_running > config.max_threads_running:
        excess.append(f"{node.threads_running} threads running > {config.max_threads_running}")
    return excess


def _blocker(snapshot: DrainSnapshot) -> str | None:
    node = snapshot.node
    if node.error is not None:
        return f"cannot read this node's status: {node.error}"
    if node.state != "Synced" or not node.ready:
        return f"this node is {node.state} (wsrep_ready {'ON' if node.ready else 'OFF'}), not Synced"
    if node.cluster_status != "Primary":
        return f"the cluster is {node.cluster_status}, not Primary"
    sick = [p for p in snapshot.peers if not p.healthy]
    if sick:
        return "waiting for " + "; ".join(f"{p.name} to be healthy ({p.detail})" for p in sick)
    return None


def decide(snapshot: DrainSnapshot, now: float, config: DrainConfig) -> Decision:
    """Return the drain verdict for ``snapshot`` at wall-clock time ``now``."""
    node = snapshot.node
    wait = config.poll_seconds
    if not node.running:
        return Decision(Action.PROCEED, "mysqld is not running: nothing to drain", outcome=Outcome.NOT_RUNNING)
    if snapshot.deployment_deleting:
        return Decision(Action.PROCEED, "the deployment is being deleted: not waiting for the cluster",
                        outcome=Outcome.DELETING)

    blocker = _blocker(snapshot)
    excess = _load_excess(node, config) if blocker is None else []
    quiet_since = None if blocker is not None or excess else (
        snapshot.quiet_since if snapshot.quiet_since is not None else now)
    elapsed = now - snapshot.started_at

    if elapsed >= config.max_wait_seconds:
        why = blocker or ("; ".join(excess) if excess else "the load was not quiet long enough")
        every_peer_down = bool(snapshot.peers) and all(
            not p.healthy and "unreachable" in p.detail for p in snapshot.peers)
        if config.policy == "proceed" or (snapshot.job_shutdown and every_peer_down):
            return Decision(Action.PROCEED, f"max_wait {config.max_wait_seconds:g} s passed ({why}): proceeding "
                                            f"(galera_drain.max_wait_policy {config.policy})", outcome=Outcome.MAX_WAIT)
        return Decision(Action.FAIL, f"max_wait {config.max_wait_seconds:g} s passed and {why}; not stopping "
                                     f"{snapshot.node_name} (galera_drain.max_wait_policy: fail). Fix the cluster "
                                     f"or lower the load, then deploy again", outcome=Outcome.FAILED)

    if blocker is not None:
        if snapshot.job_shutdown and snapshot.peers and all("unreachable" in p.detail for p in snapshot.peers):
            return Decision(Action.PROCEED, "job_shutdown and every other data node is already down: "
                                            "a whole-deployment stop, nothing left to protect",
                            outcome=Outcome.PEERS_DOWN)
        return Decision(Action.WAIT, blocker, wait, None)

    if config.switchover and snapshot.proxy.active_backend == snapshot.node_name:
        targets = [b for b in snapshot.proxy.healthy_backends if b != snapshot.node_name]
        peer_ok = {p.name for p in snapshot.peers if p.healthy}
        targets = [b for b in targets if b in peer_ok] or targets
        asked = snapshot.switchover_requested_at
        if not targets:
            return Decision(Action.WAIT, f"{snapshot.proxy.active_proxy} sends clients here and has no other "
                                         f"healthy backend to move them to", wait, quiet_since)
        if asked is None or now - asked >= config.switchover_retry_seconds:
            return Decision(Action.SWITCHOVER, f"asking {snapshot.proxy.active_proxy} to move its clients from "
                                               f"{snapshot.node_name} to {targets[0]}", wait, quiet_since, targets[0])
        return Decision(Action.WAIT, f"waiting for {snapshot.proxy.active_proxy} to move its clients to "
                                     f"{targets[0]}", wait, quiet_since)

    if excess:
        if elapsed >= config.max_load_wait_seconds:
            return Decision(Action.PROCEED, f"write load stayed high for {elapsed:.0f} s ({'; '.join(excess)}): a "
                                            f"steady load, waiting longer only grows what the node must catch up "
                                            f"on; cluster healthy, proceeding (galera_drain.max_load_wait_seconds "
                                            f"{config.max_load_wait_seconds:g})", outcome=Outcome.STEADY_LOAD)
        return Decision(Action.WAIT, "write load too high: " + "; ".join(excess), wait, None)
    assert quiet_since is not None
    quiet_for = now - quiet_since
    if quiet_for < config.quiet_seconds:
        return Decision(Action.WAIT, f"cluster healthy, load quiet for {quiet_for:.0f} of {config.quiet_seconds:g} s",
                        min(wait, max(1, int(config.quiet_seconds - quiet_for + 0.999))), quiet_since)
    return Decision(Action.PROCEED, f"cluster healthy and load quiet for {quiet_for:.0f} s "
                                    f"({node.writes_per_second:.0f} writes/s, receive queue {node.recv_queue}): "
                                    f"stopping after {elapsed:.0f} s", 0, quiet_since, outcome=Outcome.QUIET)


# ---- post-start ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PostStartConfig:
    """Tunables of post-start."""

    timeout_seconds: float = 600.0
    max_recv_queue: int = 0


@dataclass(frozen=True, slots=True)
class PostStartDecision:
    """done: the node rejoined; failed: give up with ``reason``; else keep polling."""

    done: bool
    failed: bool
    reason: str


def decide_post_start(node: NodeStatus, elapsed: float, config: PostStartConfig) -> PostStartDecision:
    """Has the node rejoined (Synced, ready, Primary, receive queue drained), after ``elapsed`` seconds?"""
    if node.running and node.error is None and node.state == "Synced" and node.ready \
            and node.cluster_status == "Primary" and node.recv_queue <= config.max_recv_queue:
        return PostStartDecision(True, False, f"Synced, wsrep_ready ON, cluster Primary of {node.cluster_size}, "
                                              f"receive queue {node.recv_queue} after {elapsed:.1f} s")
    state = (f"mysqld not running ({node.error})" if not node.running else
             f"cannot read status ({node.error})" if node.error else
             f"{node.state}, wsrep_ready {'ON' if node.ready else 'OFF'}, cluster {node.cluster_status} of "
             f"{node.cluster_size}, receive queue {node.recv_queue}")
    if elapsed >= config.timeout_seconds:
        return PostStartDecision(False, True, f"node did not rejoin within {config.timeout_seconds:g} s: {state}")
    return PostStartDecision(False, False, state)
