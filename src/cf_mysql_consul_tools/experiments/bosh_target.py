"""Experiments on a BOSH deployment of this release, driven through the ``bosh`` CLI.

:class:`BoshTarget` offers what the runner, the faults, the topology and the audits use of the
lab (:class:`~cf_mysql_consul_tools.experiments.target.Target`). Instances and their IPs come from
``bosh instances --ps --details --json``, the jobs and their properties from the deployment
manifest (with the ops files it was deployed with), passwords from its vars store. Faults are
bosh commands that mirror the lab's:

- ``kill``: ``monit unmonitor JOB`` (so that monit does not restart it: as in the lab, a fault
  stays as injected until ``start``), then ``pkill -9 -f PATTERN``; a whole instance (the VM
  loss of the active proxy): ``monit unmonitor all`` and every pattern of its jobs at once.
- ``start``: ``monit start JOB`` (or ``all``), then poll ``bosh instances --ps`` until it runs,
  and for a mysql node until it is Synced again.
- ``stop``: ``monit stop JOB``; ``pause`` / ``resume``: ``pkill -STOP`` / ``pkill -CONT``.
- ``rolling_deploy``: ``bosh recreate GROUP`` (drain, stop, new VM, pre-start, start, post-start,
  one instance at a time as the manifest's update block says).

The workload runs on this machine and finds the active proxy the way the deployment's VMs do:
through a VM's own resolver, i.e. its Consul agent's DNS on 127.0.0.1:53 (consul-release sets no
``client_addr``, so nothing else can ask it). A ``bosh ssh -L`` tunnel to the Consul server
instance carries the queries, over TCP (SSH forwards no UDP); that instance is never faulted.
The audits read MySQL at the nodes' IPs, and the proxies' event logs and consul-lock's audit
logs through ``bosh ssh -r --json -c 'sudo cat ...'``; their monotonic times (another machine's
clock) are re-based on this machine's from their wall time.

:func:`plan` lists every bosh command of a run in order, running none (``--dry-run``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pymysql

from cf_mysql_consul.benchmark_bbs.resolve import ConsulDnsResolver, Resolver
from cf_mysql_consul.galera import SYNCED
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance, ManifestError, load
from cf_mysql_consul_tools.bosh.ops import OpsError
from cf_mysql_consul_tools.bosh.variables import VariablesError, VarsStore
from cf_mysql_consul_tools.experiments import topology
from cf_mysql_consul_tools.experiments.faults import DEFAULT_PROCESS
from cf_mysql_consul_tools.experiments.spec import Experiment, Fault
from cf_mysql_consul_tools.lab.deploy import DeployReport
from cf_mysql_consul_tools.lab.waiting import WaitTimeout, wait_until
from cf_mysql_consul_tools.release.boshcli import BoshCli, BoshCommand, BoshError
from cf_mysql_consul_tools.serving import LOCK_AUDIT, PROXY_EVENTS

Log = Callable[[str], None]
MONIT = "sudo /var/vcap/bosh/bin/monit"
ACTIVE_PROXY, MASTER_MYSQL = "ACTIVE_PROXY", "MASTER_MYSQL"  # plan placeholders: resolved at the fault point
NO_CLI = ("--target bosh needs the bosh CLI on PATH (https://bosh.io/docs/cli-v2-install/), a director "
          "(bosh alias-env vbox) and this release deployed (./inv bosh.deploy); add --dry-run to print the plan "
          "without them")


class BoshTargetError(RuntimeError):
    """The deployment, its manifest or its vars store do not fit the run; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class BoshProcess:
    """A process of a BOSH VM under the lab's name (``key``), its monit name, and a ``pkill -f`` pattern.

    Every pattern starts with a bracketed character so that it never matches the shell that runs
    ``pkill`` (whose command line contains the pattern), and has no character that double quotes
    would expand.
    """

    key: str
    monit: str
    pattern: str

    @property
    def job(self) -> str:
        """The job part of ``key``."""
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The process part of ``key``."""
        return self.key.split(".", 1)[1]


# What manifests/cf-mysql-consul.yml runs: cf-mysql-release's mysql and arbitrator jobs,
# consul-release's consul_agent, and this release's bpm jobs.
PROCESSES = (
    BoshProcess("mysql.mariadbd", "mariadb_ctrl", "[m]ysqld"),
    BoshProcess("mysql.galera-healthcheck", "galera-healthcheck", "[g]alera-healthcheck"),
    BoshProcess("arbitrator.garbd", "garbd", "[g]arbd"),
    BoshProcess("consul_agent.consul", "consul_agent", "[c]onsul agent"),
    BoshProcess("proxy.proxy", "proxy", "[c]f_mysql_consul.proxy"),
    BoshProcess("consul-lock.consul-lock", "consul-lock", "[c]f_mysql_consul.lock"),
)


@dataclass(frozen=True, slots=True)
class BoshSettings:
    """Which director, deployment, manifest (+ ops files) and vars store a run uses."""

    manifest: Path
    vars_store: Path
    environment: str = "vbox"
    deployment: str = "cf-mysql-consul"
    ops: tuple[Path, ...] = ()

    def cli(self, echo: Log = print) -> BoshCli:
        """The bosh CLI wrapper for this environment and deployment."""
        return BoshCli(environment=self.environment, deployment=self.deployment, echo=echo)

    def describe(self) -> str:
        """One line: manifest and ops files."""
        ops = ", ".join(str(o) for o in self.ops) or "no ops files"
        return f"manifest {self.manifest} with {ops}"


# ---- bosh command lines --------------------------------------------------------------------

def _command(cli: BoshCli, *args: str, description: str) -> BoshCommand:
    argv = ["bosh", "-e", cli.environment, "-d", cli.deployment, *(["-n"] if cli.non_interactive else []), *args]
    return BoshCommand(tuple(argv), cwd=cli.release_dir, description=description)


def instances_command(cli: BoshCli) -> BoshCommand:
    """``bosh instances --ps --details --json``: instances, index, IPs, and each monit process's state."""
    return _command(cli, "instances", "--ps", "--details", "--json", description="list instances")


def ssh_command(cli: BoshCli, instance: str, script: str) -> BoshCommand:
    """``bosh ssh INSTANCE -c SCRIPT``."""
    return _command(cli, "ssh", instance, "-c", script, description=f"ssh {instance}")


def cat_command(cli: BoshCli, instance: str, path: str) -> BoshCommand:
    """``bosh ssh INSTANCE -r --json -c 'sudo cat PATH'`` (a missing file reads as empty)."""
    return _command(cli, "ssh", instance, "-r", "--json", "-c", f"sudo cat {path} 2>/dev/null || true",
                    description=f"read {path} on {instance}")


VM_DNS = "127.0.0.1:53"  # where consul-release's consul_agent serves DNS on every VM (its resolver's first nameserver)


def dns_tunnel_command(cli: BoshCli, instance: str, local_port: int | str) -> BoshCommand:
    """``bosh ssh INSTANCE --opts=-N --opts=-L...``: this machine's 127.0.0.1:LOCAL_PORT reaches the DNS of
    the instance's own Consul agent, the server its resolver asks first."""
    return _command(cli, "ssh", instance, "--opts=-N", f"--opts=-L127.0.0.1:{local_port}:{VM_DNS}",
                    description=f"tunnel to {instance}'s resolver")


def recreate_commands(cli: BoshCli, groups: Sequence[str], known: Sequence[str]) -> list[BoshCommand]:
    """``bosh recreate GROUP`` per group (``bosh recreate`` for every group when ``groups`` is empty)."""
    unknown = [g for g in groups if g not in known]
    if unknown:
        raise BoshTargetError(f"unknown instance group {', '.join(repr(g) for g in unknown)} in deployment "
                              f"{cli.deployment}; known: {', '.join(known)}")
    if not groups:
        return [_command(cli, "recreate", description="recreate every instance")]
    return [_command(cli, "recreate", g, description=f"recreate {g}") for g in groups]


def select_processes(instance: str, jobs: Iterable[str], process: str | None) -> list[BoshProcess]:
    """The processes ``process`` names on an instance running ``jobs`` (all of them for None), as the lab selects."""
    jobs = set(jobs)
    known = [p for p in PROCESSES if p.job in jobs]
    chosen = known if process is None else [p for p in known if process in (p.key, p.job, p.name)]
    if not chosen:
        names = ", ".join(p.key for p in known) or "none"
        what = f"no process {process!r}" if process else "none of the processes this target knows"
        raise BoshTargetError(f"{instance} has {what} (known: {names}); bosh_target.PROCESSES maps the lab's "
                              "process names to monit's")
    return chosen


def fault_script(action: str, processes: Sequence[BoshProcess], *, whole: bool) -> str:
    """The shell command ``bosh ssh -c`` runs for ``action`` on ``processes`` (``whole``: the instance)."""
    names = ["all"] if whole else [p.monit for p in processes]
    pattern = "|".join(p.pattern for p in processes)
    if action == "kill":
        return " && ".join([*(f"{MONIT} unmonitor {n}" for n in names), f'sudo pkill -9 -f "{pattern}"'])
    if action in ("start", "stop"):
        return " && ".join(f"{MONIT} {action} {n}" for n in names)
    if action in ("pause", "resume"):
        return f'sudo pkill -{"STOP" if action == "pause" else "CONT"} -f "{pattern}"'
    raise BoshTargetError(f"no bosh command for fault action {action!r}")


@dataclass
class Outstanding:
    """Instances a fault left down or paused: what ``heal`` brings back."""

    down: set[str] = field(default_factory=set)
    paused: set[str] = field(default_factory=set)

    def note(self, action: str, instance: str) -> None:
        """Record that ``action`` ran on ``instance``."""
        if action in ("kill", "stop"):
            self.down.add(instance)
        elif action == "start":
            self.down.discard(instance)
        elif action == "pause":
            self.paused.add(instance)
        elif action == "resume":
            self.paused.discard(instance)


# ---- parsing what bosh prints, the manifest and the vars store ------------------------------

@dataclass(frozen=True, slots=True)
class BoshInstance:
    """One row of ``bosh instances --ps --details --json`` with its process rows."""

    group: str
    id: str
    index: int
    ips: tuple[str, ...]
    process_state: str
    processes: dict[str, str]  # monit name -> state

    @property
    def name(self) -> str:
        """``group/index``."""
        return f"{self.group}/{self.index}"


def _table_rows(text: str, what: str) -> list[dict[str, Any]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoshTargetError(f"{what} did not print JSON ({exc}): {text[:200]!r}") from None
    tables = doc.get("Tables") if isinstance(doc, dict) else None
    if not isinstance(tables, list) or not tables:
        lines = " ".join(doc.get("Lines") or []) if isinstance(doc, dict) else ""
        raise BoshTargetError(f"{what} printed no table (no 'Tables'); bosh said: {lines or text[:200]!r}")
    return [row for table in tables if isinstance(table, dict) for row in table.get("Rows") or []]


def parse_instances(text: str) -> list[BoshInstance]:
    """The instances in the output of ``bosh instances --ps --details --json`` (bosh CLI v7's JSON tables)."""
    vms: dict[str, dict[str, Any]] = {}
    processes: dict[str, dict[str, str]] = {}
    for n, row in enumerate(_table_rows(text, "bosh instances --json")):
        slug = str(row.get("instance") or "")
        if "/" not in slug:
            raise BoshTargetError(f"bosh instances --json: Rows[{n}].instance is {slug!r}, expected GROUP/ID")
        if row.get("process"):
            processes.setdefault(slug, {})[str(row["process"])] = str(row.get("process_state", ""))
        else:
            vms[slug] = row
            index = str(row.get("index", ""))
            if not index.isdigit():
                raise BoshTargetError(f"bosh instances --json: Rows[{n}].index of {slug} is {index or 'missing'!r}; "
                                      "list the instances with --details")
    out = []
    for slug, row in vms.items():
        group, _, iid = slug.partition("/")
        ips = tuple(ip.strip() for ip in str(row.get("ips", "")).split("\n") if ip.strip())
        out.append(BoshInstance(group, iid, int(row["index"]), ips, str(row.get("process_state", "")),
                                processes.get(slug, {})))
    return sorted(out, key=lambda i: (i.group, i.index))


STORE_FIX = "pass the vars store the deployment was deployed with (./inv bosh.deploy writes one)"


def load_vars_store(path: Path) -> dict[str, Any]:
    """The vars store's variables; BoshTargetError naming the file and the fix when it is unusable."""
    if not path.is_file():
        raise BoshTargetError(f"--vars-store {path}: no such file; {STORE_FIX}")
    try:
        return VarsStore.load(path).values
    except VariablesError as exc:
        reason = str(exc).removeprefix(f"vars store {path}").lstrip(": ")
        raise BoshTargetError(f"--vars-store {path}: {reason}; {STORE_FIX}") from None


def load_deployment(settings: BoshSettings, store: dict[str, Any] | None) -> Deployment:
    """The deployment manifest with its ops files and variables (``bosh int``), without its errands.

    ``store`` None (a dry run): the variables the manifest declares are generated in memory, as
    ``bosh int --vars-store`` would; a variable nothing provides is an error either way.
    """
    try:
        if store is None:
            deployment = load(settings.manifest, settings.ops, store=VarsStore(placeholders=True))
        else:
            deployment = load(settings.manifest, settings.ops, given=store)
    except VariablesError as exc:
        raise BoshTargetError(f"--vars-store {settings.vars_store}: {exc}; {STORE_FIX}") from None
    except (OpsError, ManifestError) as exc:
        raise BoshTargetError(f"--manifest/--ops: {exc}") from None
    return deployment.without_errands()


def deployment_view(deployment: Deployment, listed: Sequence[BoshInstance] | None, *,
                    settings: BoshSettings) -> Deployment:
    """The lab's view of a deployment: jobs and properties from the manifest, instances and IPs from
    ``listed`` (None: as the manifest declares them, static IPs or no address)."""
    if listed is None:
        return deployment
    jobs = {g.name: g.jobs for g in deployment.instance_groups}
    errands = {str(g.get("name")) for g in deployment.manifest.get("instance_groups") or []
               if isinstance(g, dict) and g.get("lifecycle") == "errand"}
    instances: list[Instance] = []
    for row in listed:
        if row.group in errands:  # an errand VM kept alive
            continue
        if row.group not in jobs:
            raise BoshTargetError(
                f"bosh instances lists instance group '{row.group}', which {settings.describe()} does not have "
                f"(it has {', '.join(jobs)}); pass the ops files the deployment {settings.deployment} was "
                "deployed with (--ops) or the right --manifest / --deployment")
        instances.append(Instance(row.group, row.index, row.ips[0] if row.ips else "", row.id, jobs[row.group]))
    order = list(jobs)
    instances.sort(key=lambda i: (order.index(i.group), i.index))
    return replace(deployment, instances=tuple(instances),
                   groups=tuple(g for g in order if any(i.group == g for i in instances)))


def rebase_monotonic(text: str, offset: float) -> str:
    """JSON lines with ``monotonic`` replaced by ``ts`` (wall time) + ``offset``; lines without ``ts`` dropped."""
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            wall = datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        entry["monotonic"] = round(wall + offset, 6)
        out.append(json.dumps(entry))
    return "".join(f"{line}\n" for line in out)


# ---- the target -----------------------------------------------------------------------------

class BoshTarget:
    """A running BOSH deployment of this release, driven through the bosh CLI (see the module docstring)."""

    def __init__(self, settings: BoshSettings, cli: BoshCli, deployment: Deployment, *, manifest: Deployment,
                 logs_dir: Path, log: Log = print, start_timeout: float = 900.0, poll_interval: float = 2.0) -> None:
        self.settings, self.cli, self.log = settings, cli, log
        self._deployment, self._manifest = deployment, manifest
        self.logs_dir, self.start_timeout, self.poll_interval = logs_dir, start_timeout, poll_interval
        self.outstanding = Outstanding()
        self._quiet = replace(cli, echo=lambda _line: None)  # polls would flood the log
        self._tunnel: subprocess.Popen[bytes] | None = None
        self._tunnel_port = 0

    @classmethod
    def connect(cls, settings: BoshSettings, *, logs_dir: Path, log: Log = print, **kwargs: Any) -> BoshTarget:
        """Read the manifest and vars store, list the instances, and check that they fit together."""
        cli = settings.cli(echo=log)
        if cli.cli_path() is None:
            raise BoshTargetError(NO_CLI)
        manifest = load_deployment(settings, load_vars_store(settings.vars_store))
        listed = parse_instances(cli.run([instances_command(cli)], capture=True)[0])
        deployment = deployment_view(manifest, listed, settings=settings)
        names = {i.name for i in deployment.instances}
        for row in listed:
            if row.name in names and (not row.ips or row.process_state != "running"):
                raise BoshTargetError(
                    f"{row.name} is {row.process_state or 'in an unknown state'} with IPs {list(row.ips)} (bosh "
                    "instances): bring every instance back to running first (bosh start, bosh cck)")
        return cls(settings, cli, deployment, manifest=manifest, logs_dir=logs_dir, log=log, **kwargs)

    def service_resolver(self, name: str) -> Resolver:
        """``name`` as the VMs resolve it: their Consul agent's DNS, reached through a ``bosh ssh`` tunnel to
        the Consul server instance (opened on first use, closed by :meth:`close`), asked over TCP."""
        if self._tunnel is None or self._tunnel.poll() is not None:
            self._open_tunnel()
        return ConsulDnsResolver(f"127.0.0.1:{self._tunnel_port}", name, tcp=True)

    def _open_tunnel(self) -> None:
        server = topology.consul_server(self.deployment)
        if server is None:
            raise BoshTargetError("the deployment runs no consul_agent: clients cannot resolve Consul names; "
                                  "pass --clients fixed")
        with socket.socket() as probe:  # a free local port; the tunnel binds it a moment later
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        command = dns_tunnel_command(self.cli, server.name, port)
        self.log(f"running: {command.line()}")
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.logs_dir / "dns-tunnel.log", "ab") as errors:
            tunnel = subprocess.Popen([self.cli.cli_path() or "bosh", *command.argv[1:]], cwd=command.cwd,
                                      stdin=subprocess.DEVNULL, stdout=errors, stderr=errors, start_new_session=True)
        self._tunnel, self._tunnel_port = tunnel, port

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        wait_until(listening, timeout=120, interval=0.5, what=f"the bosh ssh tunnel to {server.name}'s DNS",
                   abort=lambda: (f"bosh ssh exited with {tunnel.returncode}; see {self.logs_dir / 'dns-tunnel.log'}"
                                  if tunnel.poll() is not None else None))

    def close(self) -> None:
        """Close the DNS tunnel, if one was opened: its session (bosh and the ssh it runs)."""
        if self._tunnel is not None and self._tunnel.poll() is None:
            os.killpg(self._tunnel.pid, signal.SIGTERM)
            try:
                self._tunnel.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._tunnel.pid, signal.SIGKILL)
                self._tunnel.wait()
        self._tunnel = None

    # -- the Target interface --------------------------------------------------------------------

    @property
    def deployment(self) -> Deployment:
        """Instances with their IPs (as of the last listing) and their jobs from the manifest."""
        return self._deployment

    def instance(self, name: str) -> Instance:
        """Look up ``group/index``."""
        return self._deployment.instance(name)

    def records(self, inst: Instance) -> list[BoshProcess]:
        """The processes of the instance's jobs that this target knows."""
        return [p for p in PROCESSES if inst.job(p.job) is not None]

    def instance_dir(self, inst: Instance) -> Path:
        """A fresh local copy of the instance's proxy events and consul-lock audit log, laid out as under
        /var/vcap, with monotonic times re-based on this machine's clock."""
        base = self.logs_dir / inst.slug
        offset = time.monotonic() - time.time()
        for job, relative in (("proxy", PROXY_EVENTS), ("consul-lock", LOCK_AUDIT)):
            if inst.job(job) is None:
                continue
            rows = _table_rows(self.cli.run([cat_command(self.cli, inst.name, f"/var/vcap/{relative}")],
                                            capture=True)[0], f"bosh ssh {inst.name} -r --json")
            dest = base / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(rebase_monotonic(str(rows[0].get("stdout", "")) if rows else "", offset))
        return base

    def kill(self, name: str, process: str | None = None) -> None:
        """Unmonitor, then SIGKILL (see the module docstring)."""
        self._fault("kill", name, process)

    def stop(self, name: str, process: str | None = None) -> None:
        """``monit stop``; waits until bosh no longer shows it running."""
        self._fault("stop", name, process)

    def start(self, name: str, process: str | None = None) -> None:
        """``monit start``; waits until bosh shows it running (a mysql node: until Synced)."""
        self._fault("start", name, process)

    def pause(self, name: str, process: str | None = None) -> None:
        """SIGSTOP through ``pkill``."""
        self._fault("pause", name, process)

    def resume(self, name: str, process: str | None = None) -> None:
        """SIGCONT through ``pkill``."""
        self._fault("resume", name, process)

    def mysql(self, name: str, *, database: str | None = None, **kwargs: Any) -> Any:
        """A TCP connection to a mysql node's IP as the admin user (password from the vars store)."""
        inst = self.instance(name)
        user, password = access.mysql_admin(self.deployment)
        return pymysql.connect(host=inst.address, port=3306, user=user, password=password,
                               database=database, autocommit=True, **{"connect_timeout": 5, **kwargs})

    def galera_status(self, name: str) -> dict[str, str]:
        """``wsrep_%`` status of a mysql node, over TCP."""
        with self.mysql(name) as conn, conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep_%'")
            return {str(k): str(v) for k, v in cur.fetchall()}

    # -- beyond the interface ----------------------------------------------------------------------

    def run(self, command: BoshCommand) -> str:
        """Run one bosh command (its line is logged); its stdout."""
        return self.cli.run([command], capture=True)[0]

    def refresh(self) -> None:
        """List the instances again (IPs may change when VMs are recreated)."""
        listed = parse_instances(self._quiet.run([instances_command(self.cli)], capture=True)[0])
        self._deployment = deployment_view(self._manifest, listed, settings=self.settings)

    def heal(self) -> None:
        """Resume what a fault left paused and start what it left down; failures are logged."""
        for action, names in (("resume", self.outstanding.paused), ("start", self.outstanding.down)):
            for name in sorted(names):
                try:
                    self._fault(action, name, None)
                except (BoshError, BoshTargetError, WaitTimeout) as exc:
                    self.log(f"heal: {action} {name} failed: {exc}")

    def _fault(self, action: str, name: str, process: str | None) -> None:
        inst = self.instance(name)
        processes = select_processes(name, (j.name for j in inst.jobs), process)
        self.run(ssh_command(self.cli, name, fault_script(action, processes, whole=process is None)))
        if action != "start":
            self.outstanding.note(action, name)
        if action in ("start", "stop"):
            self._wait(inst, None if process is None else [p.monit for p in processes], running=action == "start")
        if action == "start" and any(p.key == "mysql.mariadbd" for p in processes):
            wait_until(lambda: self.galera_status(name).get("wsrep_local_state") == str(SYNCED),
                       timeout=self.start_timeout, what=f"{name} to be Synced", interval=self.poll_interval)
        if action == "start":  # only once it is healthy: heal retries a start that timed out
            self.outstanding.note(action, name)

    def _wait(self, inst: Instance, monit: list[str] | None, *, running: bool) -> None:
        """Poll ``bosh instances --ps`` until the processes (all for None) are running, or none is."""
        state: dict[str, str] = {}

        def done() -> bool:
            rows = parse_instances(self._quiet.run([instances_command(self.cli)], capture=True)[0])
            row = next((r for r in rows if r.name == inst.name), None)
            state.clear()
            state.update(row.processes if row and monit is None else
                         {m: (row.processes if row else {}).get(m, "absent") for m in monit or []})
            states = set(state.values())
            return bool(states) and (states == {"running"} if running else "running" not in states)

        def pointless() -> str | None:
            missing = [m for m, s in state.items() if s == "absent"]
            return f"bosh lists no monit process {', '.join(missing)} on {inst.name}" if missing else None

        self.log(f"waiting until bosh instances --ps shows {', '.join(monit or ['every process'])} on {inst.name} "
                 f"{'running' if running else 'stopped'}")
        wait_until(done, timeout=self.start_timeout, interval=self.poll_interval, abort=pointless,
                   what=f"{inst.name} to be {'running' if running else 'stopped'}", describe=lambda: str(state))


def rolling_deploy(target: BoshTarget, *, groups: list[str] | None = None, log: Log = print,
                   downtime_seconds: float = 0.0) -> DeployReport:
    """``bosh recreate GROUP`` for each group (every group for None), then list the instances again (the
    director runs the steps: the report has none). ``downtime_seconds`` is the lab's stand-in for a VM
    recreate; a real recreate has its own."""
    report = DeployReport()
    started = time.monotonic()
    wanted = list(groups or [])
    try:
        for cmd in recreate_commands(target.cli, wanted, target.deployment.groups):
            target.run(cmd)
        report.updated = [i.name for i in target.deployment.instances if not wanted or i.group in wanted]
        target.refresh()
    except (BoshError, BoshTargetError) as exc:
        report.error = str(exc)
    report.seconds = time.monotonic() - started
    return report


# ---- the plan (--dry-run) ---------------------------------------------------------------------

def plan(spec: Experiment, settings: BoshSettings, *, clients: str | None = None) -> list[str]:
    """Every bosh command a run of ``spec`` (already scaled) runs, in order, as ``would run: LINE``; ``#``
    lines say where the fault points are and what happens between. Runs nothing; needs neither the
    bosh CLI nor the vars store. BoshTargetError when the definition does not fit the manifest."""
    cli = settings.cli()
    dep = load_deployment(settings, None)
    topo = spec.topology
    out = [f"# experiment {spec.name} on BOSH: environment {settings.environment}, deployment "
           f"{settings.deployment}, {settings.describe()}, vars store {settings.vars_store}",
           "# dry run: nothing was run; ACTIVE_PROXY and MASTER_MYSQL are resolved when their fault comes",
           "# discover the instances, their IPs and processes",
           f"would run: {instances_command(cli).line()}"]
    proxy_names = {i.name for i in dep.with_job("proxy")}
    proxies = [p for p in topo.proxies if p in proxy_names]
    if not proxies:
        raise BoshTargetError(f"none of {', '.join(topo.proxies)} is a proxy of deployment {settings.deployment} "
                              f"({settings.describe()}); deploy the experiment's topology (docs/experiments.md) "
                              "and pass its ops files with --ops")
    locks = [i.name for i in dep.with_job("consul-lock")]
    want = clients or topo.clients
    stopped: list[str] = []
    if topo.lock and not locks:
        raise BoshTargetError(f"experiment {spec.name} wants the Consul lock, but deployment {settings.deployment} "
                              f"({settings.describe()}) runs no consul-lock job: deploy the manifest without the "
                              "ops file that removes it")
    if locks and topo.lock is not False:
        if want == "fixed":
            out.append(f"# topology: consul-lock elects the active proxy; clients find it at the proxies' fixed "
                       f"IPs ({', '.join(proxies)}:3306)")
        else:
            server = _consul_server(dep)
            out += [f"# topology: consul-lock elects the active proxy; clients find it as "
                    f"{topology.service_dns_name(dep)} the way the VMs do: {server}'s resolver, its Consul agent "
                    f"on {VM_DNS}, asked over TCP through a tunnel kept open for the run:",
                    f"would run: {dns_tunnel_command(cli, server, 'LOCAL_PORT').line()}"]
    else:
        if want == "dns":
            raise BoshTargetError("--clients dns needs the consul-lock job (it registers the service) and a "
                                  "definition whose topology.lock is not false")
        if locks:
            out.append("# topology: no lock for this experiment: stop consul-lock on every proxy")
            for name in locks:
                out += _lines(cli, "stop", name, ["consul-lock"], "consul-lock")
                stopped.append(name)
        out.append(f"# topology: traffic enabled on {proxies[0]} through PATCH /v0/cluster; clients use the "
                   "proxies' fixed IPs")
    out.append(f"# workload on this machine: {spec.workload.get('desired_lrps')} LRPs; database diego recreated "
               f"through {dep.with_job('mysql')[0].name}")
    outstanding = Outstanding()
    resolved: dict[str, tuple[str, str | None]] = {}
    for fault in spec.faults:
        out += _fault_lines(cli, dep, fault, proxies[0], resolved, outstanding)
    out.append("# audits: acknowledged writes, checksums and Synced through MySQL at the mysql nodes' IPs; "
               "overlap of serving proxies from their logs:")
    for inst in dep.with_job("proxy"):
        for job, relative in (("proxy", PROXY_EVENTS), ("consul-lock", LOCK_AUDIT)):
            if inst.job(job) is not None:
                out.append(f"would run: {cat_command(cli, inst.name, f'/var/vcap/{relative}').line()}")
    if stopped:
        out.append("# restore the topology: start consul-lock again")
        for name in stopped:
            out += _lines(cli, "start", name, ["consul-lock"], "consul-lock")
    if outstanding.down or outstanding.paused:
        out.append("# heal: bring back what the faults left down or paused")
    for action, names in (("resume", outstanding.paused), ("start", outstanding.down)):
        for name in sorted(names):
            out += _lines(cli, action, name, [j.name for j in _instance_like(dep, name, proxies[0]).jobs], None)
    return out


def _consul_server(dep: Deployment) -> str:
    server = topology.consul_server(dep)
    if server is None:
        raise BoshTargetError("the deployment runs no consul_agent: clients cannot resolve Consul names; "
                              "pass --clients fixed")
    return server.name


def _instance_like(dep: Deployment, name: str, active_proxy: str) -> Instance:
    """The instance ``name`` stands for (a placeholder stands for an instance of its group)."""
    if name == ACTIVE_PROXY:
        return dep.instance(active_proxy)
    if name == MASTER_MYSQL:
        return dep.with_job("mysql")[0]
    try:
        return dep.instance(name)
    except ManifestError as exc:
        raise BoshTargetError(str(exc)) from None


def _lines(cli: BoshCli, action: str, name: str, jobs: Sequence[str], process: str | None) -> list[str]:
    processes = select_processes(name, jobs, process)
    lines = [f"would run: {ssh_command(cli, name, fault_script(action, processes, whole=process is None)).line()}"]
    if action in ("start", "stop"):
        what = ", ".join(p.monit for p in processes) if process else "every process"
        lines += [f"# then until {what} on {name} is {'running' if action == 'start' else 'stopped'}, repeatedly:",
                  f"would run: {instances_command(cli).line()}"]
    if action == "start" and any(p.key == "mysql.mariadbd" for p in processes):
        lines.append(f"# then until {name} is Synced (SHOW GLOBAL STATUS over MySQL)")
    return lines


def _fault_lines(cli: BoshCli, dep: Deployment, fault: Fault, active_proxy: str,
                 resolved: dict[str, tuple[str, str | None]], outstanding: Outstanding) -> list[str]:
    head = f"# fault {fault.id} {fault.when}: {fault.action}"
    if fault.action == "rolling_deploy":
        groups = list(fault.groups)
        lines = [f"{head} {', '.join(groups) or 'every group'}"]
        return lines + [f"would run: {c.line()}" for c in recreate_commands(cli, groups, dep.groups)]
    if fault.target in resolved:
        name, process = resolved[fault.target]
        process = fault.process or process
        lines = [f"{head} {name} (the instance of {fault.target}), process {process or 'all'}"]
    elif fault.target in DEFAULT_PROCESS:
        name = MASTER_MYSQL if fault.target == "master_mysql" else ACTIVE_PROXY
        process = fault.process or DEFAULT_PROCESS[fault.target]
        how = ("the active proxy's backend (GET /v0/cluster activeBackend)" if name == MASTER_MYSQL else
               "the proxy whose GET /v0/cluster says trafficEnabled")
        lines = [f"{head} {fault.target} = {name}, {how}, process {process or 'all'}"]
    else:
        name, process = fault.target, fault.process
        lines = [f"{head} {name}, process {process or 'all'}"]
    resolved[fault.id] = (name, process)
    outstanding.note(fault.action, name)
    jobs = [j.name for j in _instance_like(dep, name, active_proxy).jobs]
    return lines + _lines(cli, fault.action, name, jobs, process)
