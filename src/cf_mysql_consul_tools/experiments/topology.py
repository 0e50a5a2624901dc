"""Getting a lab into an experiment's topology, and back.

- **Lock**: when the lab runs the ``consul-lock`` job, it elects the active proxy and clients
  find it as ``<service_name>.service.<consul_domain>`` (``mysql.service.consul`` by default)
  through Consul DNS: the way the target's clients ask it (``resolve``; on the lab, the Consul
  server instance's agent on port 8600 of its own address). When the experiment wants no lock
  (``lock: false``), the lock processes are stopped for the run.
- **Fixed address fallback** (no lock job, or ``lock: false``): the runner enables traffic on
  the first listed proxy through its API (``PATCH /v0/cluster trafficEnabled=true``), and
  clients try the listed proxies in order (a standby proxy refuses with an error packet). When
  the experiment wants a lock that the lab does not run, a stand-in arbiter plays its part:
  when the serving proxy is gone it enables the next live one. It is a stand-in until the
  lock job runs in the lab, and reports say so.
Everything changed is undone by ``restore``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cf_mysql_consul.benchmark_bbs.resolve import ConsulDnsResolver, FixedResolver, Resolver
from cf_mysql_consul.proxy.client import ApiError
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance, JobRef
from cf_mysql_consul_tools.bosh.releases import RELEASE_NAME
from cf_mysql_consul_tools.experiments.spec import Experiment
from cf_mysql_consul_tools.experiments.target import Target

LOCK_JOBS = ("consul-lock", "consul_lock")
Log = Callable[[str], None]
Resolve = Callable[[str], Resolver]  # a Consul DNS name -> how the target's clients resolve it


class TopologyError(RuntimeError):
    """The lab cannot be put into the experiment's topology (the message says why)."""


def set_traffic(lab: Target, name: str, enabled: bool, message: str) -> None:
    """``PATCH /v0/cluster`` on proxy ``name`` (raises ``TopologyError`` when refused)."""
    try:
        access.proxy_client(lab.deployment, name, timeout=3).set_traffic(enabled, message)
    except (ApiError, access.AccessError) as exc:
        raise TopologyError(f"{name}: PATCH /v0/cluster failed: {exc}") from exc


def lock_processes(lab: Target) -> list[tuple[str, str]]:
    """(instance, process key) of every consul-lock process the lab started."""
    return [(inst.name, r.key) for inst in lab.deployment.instances for r in lab.records(inst)
            if r.key.split(".", 1)[0] in LOCK_JOBS]


def lab_has_lock(lab: Target) -> bool:
    """True when the deployment runs the consul-lock job."""
    return any(lab.deployment.with_job(j) for j in LOCK_JOBS)


@dataclass
class Prepared:
    """The topology in force for a run, and what to undo."""

    resolver: Resolver
    mode: str  # "lock", "fixed", "fixed + stand-in arbiter"
    notes: list[str] = field(default_factory=list)
    enabled_by_us: set[str] = field(default_factory=set)
    stopped_locks: list[tuple[str, str]] = field(default_factory=list)
    arbiter: StandInArbiter | None = None


class StandInArbiter:
    """Plays the lock's part without Consul: keeps exactly one live proxy serving (stand-in until issue 4)."""

    def __init__(self, lab: Target, proxies: tuple[str, ...], prepared: Prepared, log: Log) -> None:
        self.lab, self.proxies, self.prepared, self.log = lab, proxies, prepared, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stand-in-arbiter", daemon=True)
        self.handovers: list[tuple[float, str]] = []

    def start(self) -> None:
        """Begin watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            docs = {p: access.proxy_cluster(self.lab.deployment, p, timeout=0.5) for p in self.proxies}
            if any(d is not None and d.get("trafficEnabled") for d in docs.values()):
                continue
            for name in self.proxies:
                if docs[name] is None:
                    continue
                try:
                    set_traffic(self.lab, name, True, "stand-in arbiter: the serving proxy is gone")
                except TopologyError as exc:
                    self.log(f"stand-in arbiter: {exc}")
                    continue
                self.prepared.enabled_by_us.add(name)
                self.handovers.append((time.monotonic(), name))
                self.log(f"stand-in arbiter: traffic enabled on {name}")
                break


def consul_server(deployment: Deployment) -> Instance | None:
    """The instance whose Consul DNS clients ask: the Consul server's, else any agent's (None: no agent)."""
    agents = deployment.with_job("consul_agent")
    return next((i for i in agents if i.group == "consul"), agents[0] if agents else None)


def consul_dns_address(lab: Target) -> str:
    """host:8600 of the Consul server instance's DNS interface (any agent would do)."""
    server = consul_server(lab.deployment)
    if server is None:
        raise TopologyError("the lab runs no Consul agent: clients cannot use Consul DNS")
    return f"{server.address}:8600"


def lab_resolve(lab: Target) -> Resolve:
    """How the lab's clients resolve a Consul name: the Consul server instance's agent, asked on port 8600
    of its own address (the lab's instances share one 127.0.0.1; see the operator guide)."""
    return lambda name: ConsulDnsResolver(consul_dns_address(lab), name)


def service_dns_name(deployment: Deployment) -> str:
    """``<service_name>.service.<consul_domain>`` as the consul-lock job's properties (or its spec's
    defaults) make it: the name clients find the active proxy under."""
    job = next((job for name in LOCK_JOBS for inst in deployment.with_job(name)
                if (job := inst.job(name)) is not None), JobRef("consul-lock", RELEASE_NAME, {}))
    service, domain = (str(access.job_property(job, key)) for key in ("service_name", "consul_domain"))
    return f"{service}.service.{domain}"


def prepare(lab: Target, spec: Experiment, *, log: Log = print, clients: str | None = None,
            resolve: Resolve | None = None) -> Prepared:
    """Put ``lab`` into ``spec``'s topology (see the module docstring); ``resolve`` says how clients
    resolve the service's Consul name (default: the lab's way, :func:`lab_resolve`)."""
    topo = spec.topology
    has_lock = lab_has_lock(lab) and bool(lock_processes(lab))
    want = clients or topo.clients
    proxies = tuple(p for p in topo.proxies if p in {i.name for i in lab.deployment.with_job("proxy")})
    if not proxies:
        raise TopologyError(f"none of {', '.join(topo.proxies)} is a proxy of this lab")
    if has_lock and topo.lock is not False:
        if want == "fixed":
            resolver: Resolver = FixedResolver([f"{lab.instance(p).address}:3306" for p in proxies])
        else:
            resolver = (resolve or lab_resolve(lab))(service_dns_name(lab.deployment))
        _wait_one_serving(lab, log)
        return Prepared(resolver, "lock", [f"consul-lock elects the active proxy; clients: {resolver.describe()}"])
    prepared = Prepared(FixedResolver([f"{lab.instance(p).address}:3306" for p in proxies]), "fixed")
    if has_lock:
        for inst, key in lock_processes(lab):
            lab.stop(inst, key)
            prepared.stopped_locks.append((inst, key))
        prepared.notes.append("consul-lock stopped for this run (the experiment wants no lock)")
    if want == "dns":
        raise TopologyError("clients: dns needs the consul-lock job (it registers the service) and lock not false")
    for name in access.serving(lab.deployment):
        if name != proxies[0]:
            set_traffic(lab, name, False, f"experiment {spec.name}: only {proxies[0]} serves")
    set_traffic(lab, proxies[0], True, f"experiment {spec.name}: fixed-address clients")
    prepared.enabled_by_us.add(proxies[0])
    prepared.notes.append(f"fixed address: traffic enabled on {proxies[0]} through its API")
    if topo.lock and len(proxies) > 1:
        prepared.mode = "fixed + stand-in arbiter"
        prepared.arbiter = StandInArbiter(lab, proxies, prepared, log)
        prepared.arbiter.start()
        prepared.notes.append("no consul-lock in this lab: a stand-in arbiter enables the next live proxy "
                              "when the serving one is gone (until issue 4's lock runs here)")
    return prepared


def _wait_one_serving(lab: Target, log: Log, timeout: float = 60) -> None:
    from cf_mysql_consul_tools.lab.waiting import wait_until

    wait_until(lambda: len(access.serving(lab.deployment)) == 1, timeout=timeout,
               what="the lock to elect one serving proxy")


def restore(lab: Target, prepared: Prepared, *, log: Log = print) -> None:
    """Undo ``prepare``: stop the arbiter, disable what we enabled, restart stopped lock processes."""
    if prepared.arbiter is not None:
        prepared.arbiter.stop()
    for name in sorted(prepared.enabled_by_us):
        try:
            set_traffic(lab, name, False, "experiment finished")
        except TopologyError as exc:
            log(f"restore: {exc}")
    for inst, key in prepared.stopped_locks:
        lab.start(inst, key)
