"""The lab: a stand-in for bosh-lite on one machine, built from real parts.

``Lab`` starts, stops and faults the instances of a deployment manifest. Each instance has a
loopback address and a state directory that its processes see as ``/var/vcap``. Jobs of other
releases run as stand-ins (``standins``), this release's jobs from their rendered templates
(``release_jobs``, through the BOSH model). Nothing supervises a process: a killed process stays dead until the lab
(or a test, or an experiment) starts it again, so every fault is exactly the one injected.
Each instance's processes run in a cgroup of its own, so that ``partition`` can cut instances
apart on the network (``partitions``).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import requests

from cf_mysql_consul.galera import SYNCED
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.bosh.jobspec import load_job_spec
from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance, JobRef
from cf_mysql_consul_tools.bosh.ops import Operation
from cf_mysql_consul_tools.bosh.releases import RELEASE_NAME, REPO_ROOT, Catalog
from cf_mysql_consul_tools.bosh.variables import VarsStore
from cf_mysql_consul_tools.lab import processes as procs
from cf_mysql_consul_tools.lab.manifest import load_lab_deployment
from cf_mysql_consul_tools.lab.partitions import Cut, LabNetwork, PartitionError
from cf_mysql_consul_tools.lab.processes import ProcessRecord, ProcessSpec, ProcessTable
from cf_mysql_consul_tools.lab.standins import (
    STAND_INS,
    JobContext,
    MySQLStandIn,
    check_binaries,
    consul_agent_mode,
    grastate,
)
from cf_mysql_consul_tools.lab.waiting import wait_until

CONSUL_LEADER = "consul-leader"  # stands for the Consul Raft leader's instance where instances are named
REST = "rest"  # the other side of a partition: every instance not on the first side
DEFAULT_ROOT = REPO_ROOT / ".lab"
VARS_STORE = "vars-store.yml"  # under the lab's root: the variables the manifest declares, generated once
Log = Callable[[str], None]


def stop_grace(key: str) -> float:
    """SIGTERM-to-SIGKILL grace of process ``key``: the mysql stand-in's own (like cf-mysql's monit stop
    timeout), BPM's 20 s for everything else."""
    return MySQLStandIn.STOP_GRACE_SECONDS if key == "mysql.mariadbd" else procs.STOP_GRACE_SECONDS


class LabError(RuntimeError):
    """The lab cannot do what was asked; the message names the thing and the fix."""


SUN_PATH_MAX = 107  # a unix socket's path (a mysql node's, below the lab root) must fit sun_path


def lab_root(value: str | Path) -> Path:
    """A lab's state directory: a relative path is taken from the checkout, never from the
    working directory, so every task finds the same lab wherever it is run from.

    ``lab.down --purge`` deletes this directory, so it refuses (``LabError``) a root that is
    the filesystem root, the checkout or a directory above it, or an existing file. (``up``
    refuses a root so long that a MySQL node's socket below it would not fit a unix socket.)
    """
    text = str(value).strip()
    if not text:
        raise LabError("the lab root is empty: give a directory (e.g. --root .lab-mine or LAB_ROOT=/tmp/lab2)")
    path = Path(text).expanduser()
    root = Path(os.path.normpath(path if path.is_absolute() else REPO_ROOT / path))
    if root == Path(root.anchor) or root == REPO_ROOT or root in REPO_ROOT.parents:
        raise LabError(f"lab root {root} would hold the checkout {REPO_ROOT}, and lab.down --purge deletes "
                       "its lab root: choose a directory of its own (e.g. .lab-mine or /tmp/lab2)")
    if root.exists() and not root.is_dir():
        raise LabError(f"lab root {root} is a file, not a directory: choose another path")
    return root


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    """One process of an instance as ``lab.status`` shows it."""

    key: str
    state: str
    pid: int | None


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """One row of ``lab.status``."""

    name: str
    address: str
    processes: tuple[ProcessStatus, ...]
    galera: str


class Lab:
    """Drive the instances of one deployment on this machine."""

    def __init__(
        self, deployment: Deployment, *, root: Path = DEFAULT_ROOT, jobs_dirs: Iterable[Path] = (),
        log: Log = print,
    ) -> None:
        self.deployment = deployment
        self.root = lab_root(root)
        self.catalog = Catalog(jobs_dirs=(*tuple(jobs_dirs), REPO_ROOT / "jobs"))
        self.log = log
        self.network = LabNetwork(self.root, deployment.instances)

    @classmethod
    def from_manifest(cls, path: Path | None = None, *, address_prefix: str | None = None,
                      ops: Sequence[Path | Operation] = (), variables: Mapping[str, Any] | None = None,
                      **kwargs: Any) -> Lab:
        """A lab for the manifest at ``path`` (the default lab manifest when None), with ``ops`` (ops
        files or operations) applied and ``variables`` (``--var`` values) given, as ``bosh int`` does.

        Variables the manifest declares under ``variables:`` and that are not given are generated
        into the lab's vars store (``ROOT/vars-store.yml``; ``--purge`` deletes it with the data).
        The environment can move a whole lab: ``LAB_ADDRESS_PREFIX`` (e.g. ``127.0.11``) and
        ``LAB_ROOT`` (its state directory, see ``lab_root``), so two labs can run side by side on
        one machine.
        """
        prefix = address_prefix or os.environ.get("LAB_ADDRESS_PREFIX") or None
        if "root" not in kwargs and os.environ.get("LAB_ROOT"):
            kwargs["root"] = Path(os.environ["LAB_ROOT"])
        store = VarsStore.load(lab_root(kwargs.get("root", DEFAULT_ROOT)) / VARS_STORE)
        return cls(load_lab_deployment(path, address_prefix=prefix, ops=ops, given=variables, store=store), **kwargs)

    # ---- paths and records -------------------------------------------------------------
    def instance(self, name: str) -> Instance:
        """Look up ``group/index``."""
        return self.deployment.instance(name)

    def instance_dir(self, inst: Instance) -> Path:
        """The host directory ``inst`` sees as /var/vcap."""
        return self.root / "instances" / inst.slug

    def table(self, inst: Instance) -> ProcessTable:
        """The records of ``inst``'s processes."""
        return ProcessTable(self.root / "run" / inst.slug)

    def records(self, inst: Instance) -> list[ProcessRecord]:
        """Records of every process the lab started on ``inst``."""
        table = self.table(inst)
        return [r for k in table.names() if (r := table.get(k)) is not None]

    def _ctx(self, inst: Instance, job: JobRef) -> JobContext:
        return JobContext(self.deployment, inst, job, self.instance_dir(inst))

    def _select(self, inst: Instance, process: str | None) -> list[ProcessRecord]:
        records = self.records(inst)
        if process is None:
            return records
        chosen = [r for r in records if process in (r.key, r.key.split(".", 1)[0], r.key.split(".", 1)[1])]
        if not chosen:
            known = ", ".join(r.key for r in records) or "none started"
            raise LabError(f"{inst.name} has no process '{process}' (known: {known})")
        return chosen

    # ---- lifecycle ---------------------------------------------------------------------
    def up(self) -> float:
        """Start every instance from nothing (or from kept state) and wait until healthy.

        Returns the seconds it took. On failure everything started is stopped again.
        """
        started = time.monotonic()
        self._preflight()
        try:
            order = self._bootstrap_order()
            for inst in order:
                self.start(inst.name, wait_consul=False)
            for inst in self.deployment.with_job("consul_agent"):
                self.wait_consul_agent(inst.name)
            if self.deployment.with_job("consul_agent"):
                wait_until(self.consul_voting, timeout=60, what="every Consul server to vote in Raft")
            mysql = self.deployment.with_job("mysql")
            if mysql:
                members = len(mysql) + len(self.deployment.with_job("arbitrator"))
                self.wait_cluster_size(members)
            if self.deployment.with_job("consul-lock"):
                from cf_mysql_consul_tools.lab.tier import wait_serving

                wait_serving(self)
        except BaseException:
            self.log("lab up failed: stopping what was started")
            self.down()
            raise
        return time.monotonic() - started

    def _bootstrap_order(self) -> list[Instance]:
        """Manifest order, but the Galera node with the most recent state first among mysql nodes."""
        mysql = list(self.deployment.with_job("mysql"))

        def freshness(inst: Instance) -> tuple[int, int, int]:
            state = grastate(self.instance_dir(inst) / "store" / "mysql")
            safe = int(state.get("safe_to_bootstrap", "0") or 0)
            return (safe, int(state.get("seqno", "-1") or -1), -inst.index)

        ranked = iter(sorted(mysql, key=freshness, reverse=True))
        return [next(ranked) if inst in mysql else inst for inst in self.deployment.instances]

    def _preflight(self) -> None:
        jobs = {j.name for i in self.deployment.instances for j in i.jobs}
        check_binaries(jobs)
        for inst in self.deployment.with_job("mysql"):
            sock = self._socket_path(inst)
            if len(str(sock)) > SUN_PATH_MAX:
                raise LabError(f"lab root {self.root} is too long: {inst.name}'s MySQL socket {sock} would exceed "
                               f"the {SUN_PATH_MAX} characters of a unix socket path; choose a shorter root")
        for inst in self.deployment.instances:
            for job in inst.jobs:
                if job.name not in STAND_INS and self._job_dir(job) is None:
                    raise LabError(
                        f"{inst.name}: unknown job '{job.name}' (release {job.release}); the lab runs stand-ins for "
                        f"{', '.join(sorted(STAND_INS))} and the jobs under "
                        f"{', '.join(map(str, self.catalog.jobs_dirs))}"
                    )

    def _job_dir(self, job: JobRef) -> Path | None:
        return self.catalog.job_dir(job.name)

    def _check_ports(self, inst: Instance, ports: Iterable[int]) -> None:
        for port in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((inst.address, port))
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE:
                        raise
                    raise LabError(
                        f"{inst.name}: port {inst.address}:{port} is already in use by a process "
                        f"the lab did not start; "
                        f"stop it (ss -ltnp 'sport = :{port}') or run ./inv lab.down"
                    ) from exc

    def start(self, name: str, process: str | None = None, *, wait: bool = True, wait_consul: bool = True) -> None:
        """Start what is not running of an instance (all its jobs, in order), or one process of it.

        With ``wait`` it returns once each job is healthy (mysql Synced, Consul agent joined,
        post-start passed); ``wait_consul=False`` leaves the Consul agents to be awaited later.
        """
        inst = self.instance(name)
        t0 = time.monotonic()
        if process is not None:
            chosen = self._select(inst, process)
            for job_name in dict.fromkeys(r.key.split(".", 1)[0] for r in chosen):
                job = inst.job(job_name)
                assert job is not None
                self._start_job(inst, job, wait=wait, only={r.key for r in chosen})
            return
        started = [job.name for job in inst.jobs
                   if self._start_job(inst, job, wait=wait and (wait_consul or job.name != "consul_agent"))]
        if started:
            self.log(f"{inst.name} ({inst.address}): started {', '.join(started)} in {time.monotonic() - t0:.1f}s")

    def _specs_for(self, inst: Instance, job: JobRef, *, bootstrap: bool) -> list[ProcessSpec]:
        stand_in = STAND_INS.get(job.name) if job.release != RELEASE_NAME else None
        if stand_in is not None and self._job_dir(job) is None:
            ctx = self._ctx(inst, job)
            stand_in.prepare(ctx, bootstrap=bootstrap)
            return stand_in.processes(ctx, bootstrap=bootstrap)
        from cf_mysql_consul_tools.lab.release_jobs import render_release_job

        return render_release_job(self.deployment, inst, job, self.instance_dir(inst), self.catalog)

    def _start_job(self, inst: Instance, job: JobRef, *, wait: bool, only: set[str] | None = None) -> bool:
        """Start the processes of ``job`` that are not running (or just those in ``only``), then wait.

        Returns False when there was nothing to start.
        """
        all_records = self.records(inst)
        records = {r.key: r for r in all_records if r.key.split(".", 1)[0] == job.name}
        alive = {k for k, r in records.items() if procs.is_ours_and_alive(r)}
        if records and (alive == set(records) or (only is not None and only <= alive)):
            return False
        # A job whose spec has no process (lifecycle hooks only, e.g. galera-drain) counts as started
        # while its post-start has passed and the instance still runs something. Decided from the
        # spec: a job with processes whose records are gone (after lab.down) must start again.
        hooks_done = self._hooks_marker(inst, job)
        if (not self._has_processes(job) and hooks_done.exists()
                and any(procs.is_ours_and_alive(r) for r in all_records)):
            return False
        bootstrap = job.name == "mysql" and not self._other_mysql_running(inst)
        for record in records.values():
            procs.reap_leftovers(record)  # e.g. the SST listener of a mariadbd that crashed mid-transfer
        stand_in = STAND_INS.get(job.name)
        if stand_in is not None and not alive:
            self._check_ports(inst, stand_in.ports)
        table = self.table(inst)
        for spec in self._specs_for(inst, job, bootstrap=bootstrap):
            if spec.key in alive or (only is not None and spec.key not in only):
                continue
            table.put(procs.spawn(self.instance_dir(inst), spec, self.instance_dir(inst) / "sys" / "log" / spec.job,
                                  cgroup=self.network.cgroup(inst)))
        if not wait:
            return True
        if job.name == "mysql":
            self.wait_synced(inst.name, timeout=120)
            if bootstrap:
                self._seed_users(inst, job)
        elif job.name == "consul_agent":
            self.wait_consul_agent(inst.name)
        self._post_start(inst, job)
        hooks_done.parent.mkdir(parents=True, exist_ok=True)
        hooks_done.touch()
        return True

    def _hooks_marker(self, inst: Instance, job: JobRef) -> Path:
        """Exists once ``job``'s post-start has passed on ``inst`` since the instance last went down."""
        return self.table(inst).run_dir / f"{job.name}.started"

    def _has_processes(self, job: JobRef) -> bool:
        """Whether ``job`` runs processes (a stand-in, or a release job with a ``config/bpm.yml``)."""
        job_dir = self._job_dir(job)
        if job_dir is None:
            return job.name in STAND_INS
        return "config/bpm.yml" in load_job_spec(job_dir).templates.values()

    def _post_start(self, inst: Instance, job: JobRef) -> None:
        script = self.instance_dir(inst) / "jobs" / job.name / "bin" / "post-start"
        if job.release != RELEASE_NAME and job.name in STAND_INS:
            return
        if script.exists():
            self.run_in_instance(inst.name, [f"/var/vcap/jobs/{job.name}/bin/post-start"], timeout=300)

    def run_in_instance(self, name: str, argv: list[str], *, timeout: float,
                        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command to completion inside the instance (its /var/vcap view and its cgroup), as
        lifecycle hooks run."""
        inst = self.instance(name)
        wrapper = procs.in_instance(self.instance_dir(inst), argv, self.network.cgroup(inst))
        result = subprocess.run(wrapper, capture_output=True, text=True, timeout=timeout,
                                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **(env or {})},
                                check=False)
        if result.returncode != 0:
            raise LabError(f"{inst.name}: {' '.join(argv)} failed (exit {result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()[-1500:]}")
        return result

    def _other_mysql_running(self, inst: Instance) -> bool:
        return any(
            procs.is_ours_and_alive(r)
            for other in self.deployment.with_job("mysql") if other != inst
            for r in self.records(other) if r.key == "mysql.mariadbd"
        )

    def _seed_users(self, inst: Instance, job: JobRef) -> None:
        with self._admin_socket(inst) as conn, conn.cursor() as cur:
            for stmt in MySQLStandIn.seed_sql(self._ctx(inst, job)):
                cur.execute(stmt)

    def stop(self, name: str, process: str | None = None) -> None:
        """Stop an instance's processes (or one), BPM style: SIGTERM, SIGKILL after 20 s."""
        inst = self.instance(name)
        for rec in reversed(self._select(inst, process)):
            procs.terminate(rec, grace=stop_grace(rec.key))

    def kill(self, name: str, process: str | None = None) -> None:
        """SIGKILL an instance's processes (or one), each with what it started: a crash."""
        inst = self.instance(name)
        for rec in self._select(inst, process):
            procs.kill(rec)

    def pause(self, name: str, process: str | None = None) -> None:
        """SIGSTOP to each process and what it started: they hang, their sockets stay open."""
        for rec in self._select(self.instance(name), process):
            procs.send(rec, signal.SIGSTOP, session=True)

    def resume(self, name: str, process: str | None = None) -> None:
        """SIGCONT what ``pause`` stopped."""
        for rec in self._select(self.instance(name), process):
            procs.send(rec, signal.SIGCONT, session=True)

    def down(self, *, purge: bool = False) -> None:
        """Lift every partition, stop every process the lab started (by recorded PID) and remove the
        instances' cgroups; ``purge`` also deletes all state."""
        healed = self.network.heal()
        if healed:
            self.log("healed " + "; ".join(c.describe() for c in healed))
        pairs = [(i, r) for i in reversed(self.deployment.instances) for r in reversed(self.records(i))]

        def stop_one(pair: tuple[Instance, ProcessRecord]) -> None:
            procs.terminate(pair[1], grace=stop_grace(pair[1].key))
            self.table(pair[0]).forget(pair[1].key)

        # Everything but the Galera nodes in parallel (Consul agents take seconds to leave); then
        # the Galera nodes one after another, so the last one records safe_to_bootstrap.
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(stop_one, [p for p in pairs if p[1].key != "mysql.mariadbd"]))
        for pair in pairs:
            if pair[1].key == "mysql.mariadbd":
                stop_one(pair)
        # A stopped instance runs its lifecycle hooks again when it next starts, as a BOSH VM does.
        for inst in self.deployment.instances:
            for job in inst.jobs:
                self._hooks_marker(inst, job).unlink(missing_ok=True)
        busy = self.network.remove_cgroups()
        if busy:
            self.log(f"cgroups still in use (a process the lab did not record): {', '.join(busy)}")
        if purge and self.root.exists():
            shutil.rmtree(self.root)

    # ---- partitions ----------------------------------------------------------------------
    def select(self, names: str | Iterable[str]) -> tuple[Instance, ...]:
        """Instances named (comma-separated, or a list) by instance name (``mysql/0``), instance-group
        name (``consul``: all of the group) or ``consul-leader`` (the Consul Raft leader's instance)."""
        items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
        chosen: dict[str, Instance] = {}
        for item in items:
            if item == CONSUL_LEADER:
                found: tuple[Instance, ...] = (self.instance(self.consul_leader()),)
            elif item in self.deployment.groups:
                found = self.deployment.group(item)
            else:
                found = (self.instance(item),)
            chosen.update((i.name, i) for i in found)
        return tuple(chosen.values())

    def partition(self, side_a: str | Iterable[str], side_b: str | Iterable[str] = REST) -> Cut:
        """Cut the instances of ``side_a`` off from those of ``side_b`` (``rest``: every other instance),
        both ways, on top of any partition in force. Clients on the host still reach every instance."""
        a = self.select(side_a)
        b = (tuple(i for i in self.deployment.instances if i not in a) if side_b == REST or list(side_b) == [REST]
             else self.select(side_b))
        if not a or not b:
            raise LabError("a partition needs at least one instance on each side (e.g. proxy/0 and consul)")
        for inst in (*a, *b):
            strays = self.network.strays(inst, [r.pid for r in self.records(inst) if procs.is_ours_and_alive(r)])
            if strays:
                raise LabError(f"{inst.name}: processes {strays} run outside the instance's cgroup (started by an "
                               "older lab), so a partition would miss them; restart the lab: ./inv lab.down && "
                               "./inv lab.up")
        try:
            cut = self.network.partition(a, b)
        except PartitionError as exc:
            raise LabError(str(exc)) from None
        self.log(f"partition in force: {cut.describe()}")
        return cut

    def heal(self) -> list[Cut]:
        """Lift every partition; returns what was in force."""
        try:
            healed = self.network.heal()
        except PartitionError as exc:
            raise LabError(str(exc)) from None
        if healed:
            self.log("healed " + "; ".join(c.describe() for c in healed))
        return healed

    def partitions(self) -> list[Cut]:
        """The partitions in force."""
        return self.network.cuts()

    def consul_leader(self) -> str:
        """The instance of the Consul Raft leader, as the first Consul agent that answers sees it."""
        errors = []
        for inst in self.deployment.with_job("consul_agent"):
            try:
                leader = requests.get(f"{self.consul_url(inst.name)}/v1/status/leader", timeout=1).json()
            except (requests.RequestException, ValueError) as exc:
                errors.append(f"{inst.name}: {type(exc).__name__}")
                continue
            address = str(leader).rsplit(":", 1)[0]
            for server in self.deployment.instances:
                if server.address == address:
                    return server.name
            errors.append(f"{inst.name}: leader {leader or 'none'}")
        raise LabError("no Consul leader known (" + "; ".join(errors or ["no Consul agent in the lab"]) + ")")

    def is_running(self, name: str, key: str) -> bool:
        """True while process ``key`` (``job.process``) of instance ``name`` is alive (running or paused)."""
        record = self.table(self.instance(name)).get(key)
        return record is not None and procs.is_ours_and_alive(record)

    def alive_pids(self) -> list[int]:
        """PIDs of every process the lab started that is still alive."""
        return [r.pid for i in self.deployment.instances for r in self.records(i) if procs.is_ours_and_alive(r)]

    # ---- state and waits ---------------------------------------------------------------
    def _socket_path(self, inst: Instance) -> Path:
        return self.instance_dir(inst) / Path(MySQLStandIn.SOCKET).relative_to("/var/vcap")

    def _admin_socket(self, inst: Instance) -> pymysql.Connection[Any]:
        sock = self._socket_path(inst)
        if len(str(sock)) > SUN_PATH_MAX:
            raise LabError(f"socket path {sock} is too long for a unix socket; use a shorter lab root")
        return pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=2, read_timeout=5,
                               autocommit=True)

    def galera_status(self, name: str) -> dict[str, str]:
        """``wsrep_%`` status of a mysql node (raises when it does not answer)."""
        with self._admin_socket(self.instance(name)) as conn, conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep_%'")
            return {str(k): str(v) for k, v in cur.fetchall()}

    def mysql(self, name: str, *, database: str | None = None, **kwargs: Any) -> pymysql.Connection[Any]:
        """A TCP connection to a mysql node as the admin user (what a client would do)."""
        inst = self.instance(name)
        user, password = access.mysql_admin(self.deployment)
        return pymysql.connect(host=inst.address, port=3306, user=user, password=password,
                               database=database, autocommit=True, **{"connect_timeout": 5, **kwargs})

    def wait_synced(self, name: str, timeout: float = 60) -> None:
        """Wait until the node is Synced and ready."""
        def synced() -> bool:
            st = self.galera_status(name)
            return st.get("wsrep_local_state") == str(SYNCED) and st.get("wsrep_ready") == "ON"
        log = self.instance_dir(self.instance(name)) / "sys" / "log" / "mysql" / "mysql.err.log"
        wait_until(synced, timeout=timeout, what=f"{name} to be Synced", describe=lambda: f"see {log}",
                   abort=lambda: None if self.is_running(name, "mysql.mariadbd") else f"mariadbd exited; see {log}")

    def wait_cluster_size(self, size: int, timeout: float = 60) -> None:
        """Wait until a running mysql node sees a Primary component of ``size`` members."""
        def ok() -> bool:
            for inst in self.deployment.with_job("mysql"):
                try:
                    st = self.galera_status(inst.name)
                except pymysql.MySQLError:
                    continue
                if st.get("wsrep_cluster_status") == "Primary" and st.get("wsrep_cluster_size") == str(size):
                    return True
            return False
        wait_until(ok, timeout=timeout, what=f"a Primary Galera cluster of {size}")

    def consul_url(self, name: str) -> str:
        """The HTTP API of the Consul agent on instance ``name``."""
        return f"http://{self.instance(name).address}:8500"

    def wait_consul_agent(self, name: str, timeout: float = 60) -> None:
        """Wait until the agent answers and the cluster has a leader."""
        url = self.consul_url(name)
        wait_until(lambda: requests.get(f"{url}/v1/status/leader", timeout=2).json(), timeout=timeout,
                   what=f"the Consul agent on {name} to see a leader")

    def consul_voting(self) -> bool:
        """Every Consul server instance votes in Raft and there is a leader. A restarted server rejoins as
        a non-voter and autopilot promotes it ~10 s later: losing the leader before that leaves no quorum."""
        servers = {i.address for i in self.deployment.with_job("consul_agent") if consul_agent_mode(i) == "server"}
        for inst in self.deployment.with_job("consul_agent"):
            try:
                reply = requests.get(f"{self.consul_url(inst.name)}/v1/operator/raft/configuration", timeout=1)
                listed = reply.json().get("Servers", [])
            except (requests.RequestException, ValueError, AttributeError):
                continue
            voters = {str(s.get("Address", "")).rsplit(":", 1)[0] for s in listed if s.get("Voter")}
            return voters == servers and any(s.get("Leader") for s in listed)
        return False

    def consul_members(self, via: str) -> dict[str, str]:
        """Consul node name -> serf status (alive, failed, left) as the agent on ``via`` sees it."""
        members = requests.get(f"{self.consul_url(via)}/v1/agent/members", timeout=2).json()
        status = {1: "alive", 2: "leaving", 3: "left", 4: "failed"}
        return {m["Name"]: status.get(m["Status"], str(m["Status"])) for m in members}

    def wait_consul_member(self, node: str, state: str = "alive", *, via: str, timeout: float = 60) -> None:
        """Wait until Consul (asked through ``via``'s agent) lists ``node`` in ``state``."""
        wait_until(lambda: self.consul_members(via).get(node) == state, timeout=timeout,
                   what=f"Consul member {node} to be {state}")

    def status(self) -> list[InstanceStatus]:
        """Every instance with its processes' states and, for mysql nodes, Galera's view."""
        rows = []
        for inst in self.deployment.instances:
            records = {r.key: r for r in self.records(inst)}
            galera = ""
            if inst.job("mysql"):
                try:
                    st = self.galera_status(inst.name)
                    galera = (f"{st.get('wsrep_local_state_comment')} ({st.get('wsrep_cluster_status')}, "
                              f"size {st.get('wsrep_cluster_size')})")
                except (pymysql.MySQLError, OSError, LabError):
                    galera = "down"
            rows.append(InstanceStatus(
                name=inst.name, address=inst.address, galera=galera,
                processes=tuple(
                    ProcessStatus(key=k, state=procs.process_state(r),
                                  pid=r.pid if procs.process_state(r) != "stopped" else None)
                    for k, r in sorted(records.items())
                ),
            ))
        return rows

    def copy_logs(self, dest: Path) -> Path:
        """Copy every instance's ``/var/vcap/sys/log`` into ``dest/INSTANCE`` (e.g. before a purge)."""
        dest.mkdir(parents=True, exist_ok=True)
        for inst in self.deployment.instances:
            source = self.instance_dir(inst) / "sys" / "log"
            if source.is_dir():
                shutil.copytree(source, dest / inst.slug, dirs_exist_ok=True)
        return dest

    def log_files(self, name: str) -> list[Path]:
        """Every log file of an instance (``/var/vcap/sys/log/**``)."""
        base = self.instance_dir(self.instance(name)) / "sys" / "log"
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []
