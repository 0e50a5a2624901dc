"""Watching the proxy tier while faults run: writers whose writes are acknowledged, every proxy's
``/health`` polled, whether every consul-lock is armed, and the figures that come out of it.

- The DNS client keeps ONE connection and, only when it fails, resolves ``mysql.service.consul``
  again through a Consul agent's DNS (a bystander's, ``CLIENT_AGENT``) and reconnects: its longest
  gap between acknowledged writes is the client-visible outage.
- One fixed writer per proxy writes to that proxy's address alone (a standby refuses): its
  acknowledged writes show when the proxy really served.
- Overlap of serving proxies, from three sources: the acknowledged writes (per proxy, a period runs
  from its first to its last acknowledged write with no gap over ``ACK_GAP``), the proxies' own
  on/off events (``serving.audit``), and ``/health`` asked of every proxy every 100 ms (a round in
  which two answered 200 counts 100 ms). An overlap proven at a single instant counts 1 ms.
- Lost writes: acknowledged ids missing on any Galera node, read once each node applied all it had.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import requests

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.benchmarks.writeload import WriteLoad
from cf_mysql_consul_tools.lab import lock_checks as lc
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.serving import Interval, Overlap, overlaps

CLIENT_AGENT = "arbitrator/0"
POLL_SECONDS = 0.1
ACK_GAP = 0.5
DNS_WRITES_PER_SECOND = 50.0
FIXED_WRITES_PER_SECOND = 20.0
CLIENT_TIMEOUT = 2.0  # each connect, read and write of the writers
CLIENT_NOTE = (f"client: one connection; re-resolves mysql.service.consul through {CLIENT_AGENT}'s Consul agent DNS "
               f"only when that connection fails ({CLIENT_TIMEOUT:g} s timeouts, {DNS_WRITES_PER_SECOND:g} writes/s)")


def overlap_ms(found: Iterable[Overlap]) -> float:
    """Total length of ``found`` in ms; an overlap seen at one instant only counts 1 ms."""
    total = 0.0
    for o in found:
        if o.end == math.inf:
            return math.inf
        total += max(o.seconds, 0.001)
    return total * 1000


def ack_periods(acks: Iterable[tuple[float, str]], *, gap: float = ACK_GAP) -> list[Interval]:
    """Per proxy, periods of acknowledged writes ((time, proxy) pairs) no more than ``gap`` apart."""
    by_proxy: dict[str, list[float]] = {}
    for t, proxy in acks:
        by_proxy.setdefault(proxy, []).append(t)
    out = []
    for proxy, times in by_proxy.items():
        times.sort()
        start = prev = times[0]
        for t in times[1:]:
            if t - prev > gap:
                out.append(Interval(proxy, start, prev, "acknowledged writes"))
                start = t
            prev = t
        out.append(Interval(proxy, start, prev, "acknowledged writes"))
    return out


def longest_gap(times: Iterable[float], since: float, until: float) -> float:
    """The longest time in [since, until] without an acknowledged write (from the last one before ``since``)."""
    ordered = sorted(times)
    prev = max((t for t in ordered if t <= since), default=since)
    longest = 0.0
    for t in ordered:
        if since < t <= until:
            longest = max(longest, t - prev)
            prev = t
    return max(longest, until - prev)


def session_exists(lab: Lab, via: str, session: str) -> bool:
    """Whether Consul (asked through ``via``'s agent) knows session ``session``."""
    try:
        reply = requests.get(f"{lab.consul_url(via)}/v1/session/info/{session}", timeout=1)
        return reply.ok and bool(reply.json())
    except (requests.RequestException, ValueError):
        return False


def armed(lab: Lab, name: str) -> bool:
    """consul-lock on proxy ``name`` is armed: its process runs and its state says so (``armed``, or
    until that field exists: a session that Consul knows)."""
    if not lab.is_running(name, "consul-lock.consul-lock"):
        return False
    state = lc.lock_state(lab, name)
    if "armed" in state:
        return bool(state["armed"])
    session = state.get("session")
    return bool(session) and session_exists(lab, name, str(session))


def galera_whole(lab: Lab) -> bool:
    """Every mysql node Synced, in a Primary component with every Galera member."""
    nodes = lab.deployment.with_job("mysql")
    size = str(len(nodes) + len(lab.deployment.with_job("arbitrator")))
    for inst in nodes:
        try:
            st = lab.galera_status(inst.name)
        except Exception:  # down, or not answering yet: not whole
            return False
        if (st.get("wsrep_local_state"), st.get("wsrep_cluster_status"), st.get("wsrep_cluster_size")) != \
                ("4", "Primary", size):
            return False
    return True


def all_armed(lab: Lab) -> bool:
    """Every proxy's consul-lock is armed."""
    return all(armed(lab, name) for name in lc.proxies(lab))


class HealthPoller:
    """Asks every proxy's ``/health`` every ``POLL_SECONDS`` in rounds; keeps who answered 200 in each, and
    calls ``on_overlap`` (time, proxies) at once for a round in which more than one did."""

    def __init__(self, lab: Lab, on_overlap: Callable[[float, tuple[str, ...]], None] | None = None) -> None:
        self.urls = {i.name: f"{access.proxy_endpoint(lab.deployment, i.name).health_url}/health"
                     for i in lab.deployment.with_job("proxy")}
        self.rounds: list[tuple[float, tuple[str, ...]]] = []
        self.on_overlap = on_overlap
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-poller", daemon=True)
        self._session = requests.Session()

    def _serving(self, url: str) -> bool:
        try:
            return self._session.get(url, timeout=POLL_SECONDS).status_code == 200
        except requests.RequestException:
            return False

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            on = tuple(name for name, url in self.urls.items() if self._serving(url))
            self.rounds.append((t, on))
            if len(on) > 1 and self.on_overlap is not None:
                self.on_overlap(t, on)
            self._stop.wait(max(0.0, POLL_SECONDS - (time.monotonic() - t)))

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(timeout=5)

    def overlap_ms(self, since: float, until: float) -> float:
        """100 ms for each round in [since, until] in which more than one proxy answered 200."""
        return sum(POLL_SECONDS * 1000 for t, on in self.rounds if since <= t <= until and len(on) > 1)


@dataclass(frozen=True, slots=True)
class Figures:
    """What the clients and pollers saw between two moments."""

    outage_s: float
    overlap_ms_acks: float
    overlap_ms_events: float
    overlap_ms_health: float
    lost: frozenset[tuple[str, int]]  # (table, id) of acknowledged writes missing on a node
    acknowledged: int
    overlaps: tuple[str, ...] = field(default=())

    @property
    def lost_writes(self) -> int:
        """How many acknowledged writes are missing on a node."""
        return len(self.lost)

    @property
    def overlap_ms(self) -> float:
        """The largest overlap any source saw."""
        return max(self.overlap_ms_acks, self.overlap_ms_events, self.overlap_ms_health)


class Clients:
    """The DNS client, a fixed writer per proxy and the /health poller, for one measurement."""

    def __init__(self, lab: Lab, *, on_overlap: Callable[[float, tuple[str, ...]], None] | None = None) -> None:
        self.lab = lab
        self.by_address = {i.address: i.name for i in lab.deployment.with_job("proxy")}
        self.dns = WriteLoad(lab, writers=1, rate=DNS_WRITES_PER_SECOND, payload_bytes=16, timeout=CLIENT_TIMEOUT,
                             targets=lambda: lc.resolve(lab, CLIENT_AGENT))
        self.fixed = [WriteLoad(lab, writers=1, rate=FIXED_WRITES_PER_SECOND, payload_bytes=16,
                                timeout=CLIENT_TIMEOUT, targets=[address]) for address in self.by_address]
        self.health = HealthPoller(lab, on_overlap)

    @property
    def loads(self) -> list[WriteLoad]:
        """Every writer."""
        return [self.dns, *self.fixed]

    def start(self) -> None:
        """Start writing and polling."""
        for load in self.loads:
            load.start()
        self.health.start()

    def stop(self) -> None:
        """Stop writing and polling."""
        self.health.stop()
        for load in self.loads:
            load.stop()

    def dns_acks(self) -> int:
        """Writes the DNS client had acknowledged so far."""
        return len(self.dns.result.acked)

    def lost(self) -> frozenset[tuple[str, int]]:
        """(table, id) of every acknowledged write missing on at least one mysql node."""
        return frozenset((load.table, i) for load in self.loads for inst in self.lab.deployment.with_job("mysql")
                         for i in load.missing_on(inst.name))

    def figures(self, since: float, until: float, *, fault_at: float | None = None,
                not_serving: Mapping[str, list[tuple[float, float]]] | None = None) -> Figures:
        """The figures of [since, until]: the three overlaps, lost writes, and the DNS client's outage
        (its longest gap from ``fault_at``, default ``since``). ``not_serving``: windows in which a
        proxy could not serve (killed, paused), per instance.

        Call with every mysql node back in the cluster (lost writes are read from each node).
        """
        acks = [(t, self.by_address.get(host, host)) for load in self.loads for t, host in load.result.ack_log
                if since <= t <= until]
        by_acks = overlaps(ack_periods(acks))
        events = lc.audit_lab(self.lab, since=since, not_serving=dict(not_serving or {}))
        by_events = [o for o in events.overlaps if o.start <= until]
        described = [f"{o.first.instance} & {o.second.instance}: {max(o.seconds, 0.001) * 1000:.0f} ms at "
                     f"{o.start - since:.2f} s ({source})" for source, found in (("acknowledged writes", by_acks),
                                                                                ("proxy events", by_events))
                     for o in found]
        return Figures(
            outage_s=longest_gap((t for t, _ in self.dns.result.ack_log), fault_at or since, until),
            overlap_ms_acks=overlap_ms(by_acks), overlap_ms_events=overlap_ms(by_events),
            overlap_ms_health=self.health.overlap_ms(since, until), lost=self.lost(),
            acknowledged=sum(len(load.result.acked) for load in self.loads), overlaps=tuple(described),
        )
