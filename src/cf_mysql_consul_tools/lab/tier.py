"""The proxy tier as an operator needs to see it: who serves, under which lock, and what DNS says.

Everything here reads; nothing changes the lab. Each source is asked once and a source that
does not answer shows as such instead of failing the whole view.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import requests

from cf_mysql_consul.proxy.client import ApiError
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.lock_checks import agent_dns
from cf_mysql_consul_tools.lab.processes import process_state
from cf_mysql_consul_tools.lab.waiting import wait_until


@dataclass(frozen=True, slots=True)
class ProxyView:
    """One proxy as its API answers (``answered`` False when it did not)."""

    name: str
    address: str
    answered: bool
    serving: bool
    backend: str | None
    lease_remaining: float | None
    message: str


@dataclass(frozen=True, slots=True)
class LockView:
    """The lock key as a Consul agent answers (``error`` set when no agent did)."""

    key: str
    holder: str | None
    session: str | None
    lock_index: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class TierView:
    """The whole tier at one moment."""

    proxies: tuple[ProxyView, ...]
    lock: LockView
    dns_name: str
    dns_answer: tuple[str, ...] | None  # None: no agent answered
    faults: tuple[str, ...]

    @property
    def serving(self) -> list[str]:
        """Names of the proxies whose traffic is enabled right now."""
        return [p.name for p in self.proxies if p.serving]


def _service_and_key(lab: Lab) -> tuple[str, str]:
    for inst in lab.deployment.with_job("consul-lock"):
        job = inst.job("consul-lock")
        props = job.properties if job else {}
        service = str(props.get("service_name", "mysql"))
        return service, f"{str(props.get('key_prefix', 'service')).strip('/')}/{service}/leader"
    return "mysql", "service/mysql/leader"


def _proxy(lab: Lab, name: str) -> ProxyView:
    inst = lab.instance(name)
    try:
        doc = access.proxy_client(lab.deployment, name).cluster()
    except ApiError as exc:
        return ProxyView(name, inst.address, False, False, None, None, f"no answer: {type(exc).__name__}")
    backend = (doc.get("activeBackend") or {}).get("name")
    remaining = doc.get("leaseSecondsRemaining")
    return ProxyView(name, inst.address, True, bool(doc.get("trafficEnabled")), backend,
                     float(remaining) if remaining is not None else None, str(doc.get("message") or ""))


def wait_serving(lab: Lab, *, timeout: float = 60) -> str:
    """Wait until exactly one proxy serves; return its name."""
    def one() -> str:
        on = access.serving(lab.deployment)
        return on[0] if len(on) == 1 else ""
    found: str = wait_until(one, timeout=timeout, what="exactly one serving proxy", interval=0.1,
                            describe=lambda: f"serving: {access.serving(lab.deployment)}")
    return found


def _agents(lab: Lab) -> list[str]:
    return [i.name for i in lab.deployment.with_job("consul_agent") if lab.is_running(i.name, "consul_agent.consul")]


def _lock(lab: Lab, key: str) -> LockView:
    error = "no Consul agent is running"
    for agent in _agents(lab):
        try:
            response = requests.get(f"{lab.consul_url(agent)}/v1/kv/{key}", timeout=1)
            if response.status_code == 404:
                return LockView(key, None, None, None, None)
            response.raise_for_status()
            item = response.json()[0]
        except (requests.RequestException, ValueError, IndexError) as exc:
            error = f"{lab.instance(agent).address}: {type(exc).__name__}"
            continue
        holder = None
        if item.get("Session"):
            try:
                holder = str(json.loads(base64.b64decode(item.get("Value") or "")).get("proxy"))
            except (ValueError, AttributeError):
                holder = "unknown"
        return LockView(key, holder, item.get("Session"), int(item.get("LockIndex", 0)), None)
    return LockView(key, None, None, None, error)


def _dns(lab: Lab, name: str) -> tuple[str, ...] | None:
    for agent in _agents(lab):
        answer = agent_dns(lab.instance(agent).address, name)
        if answer is not None:
            return answer
    return None


def faults(lab: Lab) -> tuple[str, ...]:
    """Every fault in force: partitions, and processes the lab started that are paused or no longer running."""
    cuts = lab.partitions()
    found = [f"partition {c.describe()}" for c in cuts]
    if not cuts and lab.network.rules_present():
        found.append("partition rules left in iptables without a record (./inv lab.heal removes them)")
    for inst in lab.deployment.instances:
        for record in lab.records(inst):
            state = process_state(record)
            if state != "running":
                found.append(f"{inst.name} {record.key} {'paused' if state == 'paused' else 'not running'}")
    return tuple(found)


def tier(lab: Lab) -> TierView:
    """Ask every proxy, a Consul agent's KV and DNS, and the process table, once each."""
    service, key = _service_and_key(lab)
    name = f"{service}.service.consul"
    proxies = tuple(_proxy(lab, i.name) for i in lab.deployment.with_job("proxy"))
    return TierView(proxies=proxies, lock=_lock(lab, key), dns_name=name, dns_answer=_dns(lab, name),
                    faults=faults(lab))


def describe(view: TierView) -> list[str]:
    """The tier as lines for ``lab.status``."""
    serving = view.serving
    if len(serving) == 1:
        head = f"serving: {serving[0]}"
    elif not serving:
        head = "serving: NONE (no proxy has traffic enabled)"
    else:
        head = f"serving: {', '.join(serving)} (MORE THAN ONE)"
    lock = view.lock
    if lock.error is not None:
        lock_line = f"lock {lock.key}: unknown ({lock.error})"
    elif lock.session is None:
        lock_line = f"lock {lock.key}: free" + (f" (LockIndex {lock.lock_index})" if lock.lock_index else "")
    else:
        lock_line = f"lock {lock.key}: held by {lock.holder} (LockIndex {lock.lock_index}, session {lock.session[:8]})"
    lines = [head, lock_line]
    for p in view.proxies:
        if not p.answered:
            lines.append(f"  {p.name} ({p.address}): {p.message}")
            continue
        lease = f", lease {p.lease_remaining:.1f} s left" if p.lease_remaining is not None else ""
        state = "SERVING" if p.serving else "standby"
        lines.append(f"  {p.name} ({p.address}): {state}, backend {p.backend or 'none'}{lease}")
    if view.dns_answer is None:
        lines.append(f"{view.dns_name}: no Consul agent answered DNS")
    else:
        lines.append(f"{view.dns_name}: {', '.join(view.dns_answer) or 'no address (NXDOMAIN or empty)'}")
    lines.append("faults: " + ("; ".join(view.faults) if view.faults else "none"))
    return lines
