"""Getting a lab into an experiment's topology, and back.

- **Lock**: when the lab runs the ``consul-lock`` job, it elects the active proxy and clients
  find it as ``<service_name>.service.<consul_domain>`` (``mysql.service.consul`` by default)
  through Consul DNS: the way the target's clients ask it (``resolve``; on the lab, the Consul
  server instance's agent on port 8600 of its own address). When the experiment wants no lock
  (``lock: false``), the lock processes are stopped for the run.
- **Fixed address** (no lock job, or ``lock: false``): the runner enables traffic on the first
  listed proxy through its API (``PATCH /v0/cluster trafficEnabled=true``), and clients try
  the listed proxies in order (a standby proxy refuses with an error packet). An experiment
  that wants the lock (``lock: true``) on a deployment without it is refused.
Everything changed is undone by ``restore``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cf_mysql_consul.benchmark_bbs.resolve import ConsulDnsResolver, FixedResolver, Resolver
from cf_mysql_consul.proxy.client import ApiError
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance, JobRef
from cf_mysql_consul_tools.bosh.releases import RELEASE_NAME
from cf_mysql_consul_tools.experiments.spec import Experiment
from cf_mysql_consul_tools.experiments.target import Target

LOCK_JOB = "consul-lock"
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
            if r.key.split(".", 1)[0] == LOCK_JOB]


def lab_has_lock(lab: Target) -> bool:
    """True when the deployment runs the consul-lock job."""
    return bool(lab.deployment.with_job(LOCK_JOB))


@dataclass
class Prepared:
    """The topology in force for a run, and what to undo."""

    resolver: Resolver
    mode: str  # "lock" or "fixed"
    notes: list[str] = field(default_factory=list)
    enabled_by_us: set[str] = field(default_factory=set)
    stopped_locks: list[tuple[str, str]] = field(default_factory=list)


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
    job = next((job for inst in deployment.with_job(LOCK_JOB) if (job := inst.job(LOCK_JOB)) is not None),
               JobRef(LOCK_JOB, RELEASE_NAME, {}))
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
    if topo.lock and not has_lock:
        raise TopologyError(f"experiment {spec.name} wants the Consul lock, but this deployment runs no started "
                            f"{LOCK_JOB} job: use a manifest that keeps {LOCK_JOB} beside the proxies")
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
    return prepared


def _wait_one_serving(lab: Target, log: Log, timeout: float = 60) -> None:
    from cf_mysql_consul_tools.lab.waiting import wait_until

    wait_until(lambda: len(access.serving(lab.deployment)) == 1, timeout=timeout,
               what="the lock to elect one serving proxy")


def restore(lab: Target, prepared: Prepared, *, log: Log = print) -> None:
    """Undo ``prepare``: disable what we enabled, restart stopped lock processes."""
    for name in sorted(prepared.enabled_by_us):
        try:
            set_traffic(lab, name, False, "experiment finished")
        except TopologyError as exc:
            log(f"restore: {exc}")
    for inst, key in prepared.stopped_locks:
        lab.start(inst, key)
