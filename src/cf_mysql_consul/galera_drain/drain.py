"""``bin/drain`` of the galera-drain job: BOSH's dynamic drain protocol around ``decide``.

BOSH calls ``bin/drain job_changed|job_shutdown hash_changed|hash_unchanged [JOB...]`` once,
then ``bin/drain job_check_status ...`` again after |N| seconds for as long as it prints a
negative N. Stdout carries exactly one integer; every message goes to stderr and the log.
A first call (anything but ``job_check_status``) starts a fresh drain, so a drain that was
interrupted (deploy cancelled) starts over instead of inheriting an old deadline: idempotent.
Exit 1 only for the ``fail`` policy after ``max_wait`` (BOSH shows stderr's last line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from cf_mysql_consul.galera_drain import cluster, events, node
from cf_mysql_consul.galera_drain.config import LOG_LEVELS, JobConfig, load_config
from cf_mysql_consul.galera_drain.decide import Action, Decision, DrainSnapshot, NodeStatus, ProxyView, decide
from cf_mysql_consul.hooks import run_hook


def load_state(path: str, *, fresh: bool, now: float) -> dict[str, Any]:
    """The drain's memory between invocations; a new one on a first call or when unreadable."""
    if not fresh:
        try:
            state = json.loads(Path(path).read_text())
            if isinstance(state, dict) and isinstance(state.get("started_at"), int | float):
                return state
        except (OSError, json.JSONDecodeError):
            pass
    return {"started_at": now, "quiet_since": None, "switchover_requested_at": None, "calls": 0}


def save_state(path: str, state: dict[str, Any]) -> None:
    """Write the state atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(target)


def take_snapshot(config: JobConfig, state: dict[str, Any], *, job_shutdown: bool, deleting: bool) -> DrainSnapshot:
    """Read the node, its peers and (when switchover is on) the proxies; never raises."""
    try:
        status = node.sample(config.mysql, seconds=config.sample_seconds)
    except Exception as exc:  # an adapter bug must not break BOSH's protocol: wait, bounded by max_wait
        status = NodeStatus(running=True, error=f"{type(exc).__name__}: {exc}")
    peers = tuple(cluster.peer_status(p) for p in config.peers)
    proxy = ProxyView()
    if config.drain.switchover and config.proxies and status.running:
        proxy = cluster.proxy_view(config.proxies)
    return DrainSnapshot(
        node_name=config.node_name, node=status, peers=peers, proxy=proxy,
        started_at=float(state["started_at"]), quiet_since=state.get("quiet_since"),
        switchover_requested_at=state.get("switchover_requested_at"),
        job_shutdown=job_shutdown, deployment_deleting=deleting,
    )


def switchover(config: JobConfig, decision: Decision, proxy: ProxyView) -> str:
    """Wait (bounded) for an instant with no open transaction here, then ask the proxy to move."""
    idle, open_trx = node.wait_for_idle_moment(config.mysql, timeout=config.switchover_idle_wait_seconds)
    moment = "no open transaction" if idle else (
        f"{open_trx} transactions still open after {config.switchover_idle_wait_seconds:g} s")
    assert proxy.active_proxy is not None and decision.switch_to is not None
    try:
        answer = cluster.request_switchover(config.proxies, proxy.active_proxy, decision.switch_to)
    except cluster.SwitchoverError as exc:
        note = f"switchover request failed ({exc}); will ask again"
        events.record(config, events.SWITCHOVER, note, result="request_failed", to=decision.switch_to)
        return note
    active = (answer.get("activeBackend") or {}).get("name")
    note = f"asked {proxy.active_proxy} at an instant with {moment}; it now serves from {active}"
    events.record(config, events.SWITCHOVER, note, result="requested", to=decision.switch_to)
    return note


class Logger:
    """One line per event to stderr and the job's drain log, at or above ``galera_drain.log_level``."""

    def __init__(self, path: str, level: str = "info") -> None:
        self.path = path
        self.threshold = LOG_LEVELS[level]

    def debug(self, text: str) -> None:
        """A detail for troubleshooting (log_level debug)."""
        self(text, level="debug")

    def __call__(self, text: str, *, level: str = "info") -> None:
        """Write ``text`` unless ``level`` is below the threshold."""
        if LOG_LEVELS[level] < self.threshold:
            return
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} galera-drain: {text}"
        print(line, file=sys.stderr, flush=True)
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as out:
                out.write(line + "\n")
        except OSError:
            pass


def run(config: JobConfig, bosh_args: list[str], env: dict[str, str], *, now: float | None = None) -> tuple[int, int]:
    """One drain invocation: returns (integer to print, exit code)."""
    log = Logger(config.log_path, config.log_level)
    now = time.time() if now is None else now
    mode = bosh_args[0] if bosh_args else "job_changed"
    state = load_state(config.state_path, fresh=mode != "job_check_status", now=now)
    state["calls"] = int(state.get("calls", 0)) + 1
    if mode != "job_check_status":
        state["job_shutdown"] = mode == "job_shutdown"  # re-invocations only say job_check_status
    if state["calls"] == 1:
        log(f"drain started: {' '.join(bosh_args) or 'no arguments'}; BOSH_JOB_STATE={env.get('BOSH_JOB_STATE', '')} "
            f"BOSH_JOB_NEXT_STATE={env.get('BOSH_JOB_NEXT_STATE', '')} "
            f"BOSH_DEPLOYMENT_NEXT_STATE={env.get('BOSH_DEPLOYMENT_NEXT_STATE', '')}")
    snapshot = take_snapshot(config, state, job_shutdown=bool(state.get("job_shutdown")),
                             deleting=env.get("BOSH_DEPLOYMENT_NEXT_STATE") == "delete")
    decision = decide(snapshot, now, config.drain)
    node_status = snapshot.node
    log.debug(f"snapshot: {node_status.state}, ready {node_status.ready}, cluster {node_status.cluster_status} of "
              f"{node_status.cluster_size}, {node_status.writes_per_second:.1f} writes/s, receive queue "
              f"{node_status.recv_queue}, flow control {node_status.flow_control_paused:.2f}, "
              f"{node_status.threads_running} threads running; peers: "
              + ("; ".join(f"{p.name} {'healthy' if p.healthy else 'unhealthy'} ({p.detail})" for p in snapshot.peers)
                 or "none") + f"; active proxy {snapshot.proxy.active_proxy} on {snapshot.proxy.active_backend}")
    note = ""
    if decision.action is Action.SWITCHOVER:
        note = "; " + switchover(config, decision, snapshot.proxy)
        state["switchover_requested_at"] = now
    state["quiet_since"] = decision.quiet_since
    state["last"] = decision.reason
    save_state(config.state_path, state)
    log(f"[{state['calls']}, {now - snapshot.started_at:.0f}s] {decision.action.value}: {decision.reason}{note}")
    if decision.outcome is not None:
        events.record(config, events.DRAIN, decision.reason, outcome=decision.outcome.value,
                      seconds=round(now - snapshot.started_at, 3))
    if decision.action is Action.FAIL:
        return 0, 1
    if decision.action is Action.PROCEED and snapshot.node.running:
        record = node.stop_record(config.mysql, writes_per_second=snapshot.node.writes_per_second)
        if record:
            save_state(str(Path(config.state_path).with_name("stop-record.json")), {**record, "stopped_at": now})
            rate = record["writes_per_second"] * record["writeset_bytes"]
            covers = f"~{record['gcache_bytes'] / rate:.0f} s" if rate >= 1 else "any length"
            log(f"stop record: seqno {record['seqno']:.0f}, {record['writes_per_second']:.0f} writes/s of "
                f"~{record['writeset_bytes']:.0f} B, gcache {record['gcache_bytes'] / 2**20:.0f} MB covers "
                f"{covers} of downtime for an IST")
    return decision.drain_output, 0


def _main(config: JobConfig, _args: argparse.Namespace, bosh_args: list[str]) -> int:
    try:
        output, code = run(config, bosh_args, dict(os.environ))
    except Exception:
        # The protocol must hold whatever happens: one integer; call again, but never past max_wait.
        started = load_state(config.state_path, fresh=False, now=time.time())["started_at"]
        overdue = time.time() - float(started) >= config.drain.max_wait_seconds
        print(f"galera-drain: unexpected error{' after max_wait' if overdue else ', asking to be called again'}:"
              f"\n{traceback.format_exc()}", file=sys.stderr)
        output, code = (0, 1 if config.drain.policy == "fail" else 0) if overdue else (-config.drain.poll_seconds, 0)
    print(output, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``--config PATH`` then BOSH's own arguments."""
    return run_hook("galera-drain", argv, load_config, _main, drain=True)


if __name__ == "__main__":
    sys.exit(main())
