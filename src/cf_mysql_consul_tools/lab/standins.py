"""Stand-ins for the jobs that come from other releases: cf-mysql's ``mysql`` and ``arbitrator``
and consul-release's ``consul_agent``.

Each stand-in runs the real Debian binary (``mariadbd`` with Galera 4, ``garbd``, Consul 1.8.7)
with config generated from the job's manifest properties, written where the job would keep it
(``/var/vcap/jobs/JOB/config``) and with its data under ``/var/vcap/store``.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cf_mysql_consul.proxy.events import read_events
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance, JobRef
from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.lab.mysql_ctl import MIN_DATABASE_STARTUP_TIMEOUT
from cf_mysql_consul_tools.lab.processes import ProcessSpec

CONSUL_BIN = REPO_ROOT / ".tools" / "bin" / "consul"
GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"


@dataclass(frozen=True, slots=True)
class JobContext:
    """Everything a stand-in needs to know about the job it runs on one instance."""

    deployment: Deployment
    instance: Instance
    job: JobRef
    instance_dir: Path  # the host directory this instance sees as /var/vcap

    def prop(self, dotted: str, default: Any = None) -> Any:
        """A manifest property by dotted name, or ``default``."""
        node: Any = self.job.properties
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return default if node is None else node

    def host_path(self, vcap_path: str) -> Path:
        """The host path of a ``/var/vcap/...`` path on this instance."""
        return self.instance_dir / Path(vcap_path).relative_to("/var/vcap")

    def write(self, vcap_path: str, text: str) -> None:
        """Write a file this instance sees at ``vcap_path``."""
        path = self.host_path(vcap_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


class StandIn(Protocol):
    """A job the lab runs itself in place of another release's job."""

    ports: tuple[int, ...]

    def prepare(self, ctx: JobContext, *, bootstrap: bool) -> None:
        """Write config and initial state; ``bootstrap`` asks a Galera node to start a new cluster."""

    def processes(self, ctx: JobContext, *, bootstrap: bool) -> list[ProcessSpec]:
        """The processes to start, in order."""


def galera_peers(deployment: Deployment) -> list[str]:
    """Addresses of every Galera member: the mysql nodes and the arbitrator(s)."""
    return [i.address for i in deployment.instances if i.job("mysql") or i.job("arbitrator")]


def cluster_name(ctx: JobContext) -> str:
    """The Galera group name (cf-mysql's ``cf_mysql.mysql.cluster_name``)."""
    return str(ctx.prop("cf_mysql.mysql.cluster_name", "cf-mariadb-galera-cluster"))


_PROVIDER_OPTION = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


def galera_options(ctx: JobContext) -> str:
    """Extra Galera provider options (``cf_mysql.mysql.galera_provider_options``, a map) as ``k=v; ...``.

    Both the mysql nodes and garbd read it, because failure detection (``evs.*``) only works
    as configured when every member of the group agrees on it.
    """
    name = "cf_mysql.mysql.galera_provider_options"
    options = ctx.prop(name, {})
    if not isinstance(options, dict):
        raise ValueError(f"{ctx.instance.name}: property '{name}' must be a map of Galera option to value "
                         f"(e.g. {{evs.suspect_timeout: PT2S}}), got {options!r}")
    parts = []
    for key, value in options.items():
        text = str(value)
        if not _PROVIDER_OPTION.match(str(key)) or not text or any(ch in text for ch in ';"\n'):
            raise ValueError(f"{ctx.instance.name}: property '{name}': {key!r}: {value!r} is not a Galera option "
                             "(a dotted name like evs.suspect_timeout and a value without ; or quotes)")
        parts.append(f"{key}={text}")
    return "; ".join(parts)


class MySQLStandIn:
    """cf-mysql's ``mysql`` job: MariaDB 10.11 + Galera 4 (rsync SST, or ``cf_mysql.mysql.sst_method:
    mariabackup`` for a non-blocking donor like cf-mysql's xtrabackup-v2), plus a galera-healthcheck."""

    ports: tuple[int, ...] = (3306, 4567, 4568, 4444, 9200)
    CONFIG = "/var/vcap/jobs/mysql/config/my.cnf"
    DATADIR = "/var/vcap/store/mysql"
    SOCKET = "/var/vcap/sys/run/mysql/mysqld.sock"
    CTL_CONFIG = "/var/vcap/jobs/mysql/config/mysql_ctl.json"
    CTL_EVENTS = "/var/vcap/sys/log/mysql/mysql_ctl.events.jsonl"
    ERROR_LOG = "/var/vcap/sys/log/mysql/mysql.err.log"
    # cf-mysql-release v26's job spec has no default; its manifest generation sets 600 s.
    DATABASE_STARTUP_TIMEOUT = 600
    # SIGTERM to SIGKILL on stop, like cf-mysql's monit stop timeout: a mariadbd stopped mid-SST took ~50 s
    # to exit here, and BPM's 20 s SIGKILL left it without a usable state (a full SST on the next start).
    STOP_GRACE_SECONDS = 120.0

    def prepare(self, ctx: JobContext, *, bootstrap: bool) -> None:
        """Write my.cnf and the healthcheck config; initialise the datadir on first start."""
        addr = ctx.instance.address
        gcache = ctx.prop("cf_mysql.mysql.gcache_size", "256M")
        provider_options = (
            f"gmcast.listen_addr=tcp://{addr}:4567; ist.recv_addr={addr}:4568; gcache.size={gcache}; "
            f"pc.recovery=FALSE"
        )
        if extra := galera_options(ctx):
            provider_options += "; " + extra
        peers = ",".join(galera_peers(ctx.deployment))
        sst_method = str(ctx.prop("cf_mysql.mysql.sst_method", "rsync"))
        if sst_method not in ("rsync", "mariabackup"):
            raise ValueError(f"{ctx.instance.name}: property 'cf_mysql.mysql.sst_method' must be rsync or "
                             f"mariabackup (cf-mysql's xtrabackup-v2), got {sst_method!r}")
        ctx.write(self.CONFIG, "\n".join([
            "[mysqld]",
            "user=mysql",
            f"datadir={self.DATADIR}",
            f"socket={self.SOCKET}",
            "pid-file=/var/vcap/sys/run/mysql/mysqld.pid",
            "tmpdir=/var/vcap/data/mysql/tmp",
            f"bind-address={addr}",
            "port=3306",
            f"log-error={self.ERROR_LOG}",
            "skip-name-resolve",
            "max_connections=3000",
            "max_allowed_packet=256M",
            "binlog_format=ROW",
            "default_storage_engine=InnoDB",
            "innodb_autoinc_lock_mode=2",
            f"innodb_buffer_pool_size={int(ctx.prop('cf_mysql.mysql.innodb_buffer_pool_size', 134217728))}",
            "innodb_flush_log_at_trx_commit=2",
            "wsrep_on=ON",
            f"wsrep_provider={GALERA_PROVIDER}",
            f"wsrep_cluster_name={cluster_name(ctx)}",
            f"wsrep_cluster_address=gcomm://{peers}",
            f"wsrep_node_address={addr}",
            f"wsrep_node_name={ctx.instance.slug}",
            f"wsrep_sst_method={sst_method}",
            *(["wsrep_sst_auth=root:"] if sst_method == "mariabackup" else []),
            f"wsrep_sst_receive_address={addr}:4444",
            f'wsrep_provider_options="{provider_options}"',
            "wsrep_slave_threads=2",
            "",
            # mariabackup's joiner listens with socat on every address unless told otherwise.
            "[sst]",
            f'sockopt=",bind={addr}"',
            "",
        ]))
        hc = ctx.prop("cf_mysql.mysql.galera_healthcheck", {}) or {}
        ctx.write("/var/vcap/jobs/mysql/config/galera-healthcheck.json", json.dumps({
            "listen": f"{addr}:9200",
            "mysql_host": addr,
            "mysql_user": "galera_healthcheck",
            "mysql_password": hc.get("db_password", "lab-healthcheck-db-password"),
            "available_when_donor": bool(ctx.prop("cf_mysql.mysql.available_when_donor", False)),
            "available_when_read_only": False,
        }, indent=2))
        # mariadbd drops to the mysql user (as cf-mysql runs it as vcap): its SST rsync daemon
        # must not run as root, where rsync would switch to "nobody" and fail to write the datadir.
        for d in ("/var/vcap/sys/run/mysql", "/var/vcap/sys/log/mysql", "/var/vcap/data/mysql/tmp", self.DATADIR):
            ctx.host_path(d).mkdir(parents=True, exist_ok=True)
            shutil.chown(ctx.host_path(d), "mysql", "mysql")
        datadir = ctx.host_path(self.DATADIR)
        if not (datadir / "mysql").exists():
            result = subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=mysql",
                 "--auth-root-authentication-method=normal", "--skip-test-db"],
                capture_output=True, text=True, check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"mariadb-install-db failed for {ctx.instance.name}: {result.stderr[-2000:]}")
        if bootstrap:
            mark_safe_to_bootstrap(datadir)

    def processes(self, ctx: JobContext, *, bootstrap: bool) -> list[ProcessSpec]:
        """mariadbd (with ``--wsrep-new-cluster`` when bootstrapping) and the galera-healthcheck.

        With ``lab.start_behaviour: cf-mysql`` the ``mysql.mariadbd`` process is cf-mysql-release
        v26's start instead (``mysql_ctl``: monit + mariadb_ctl + mariadb_ctrl, timed by
        ``cf_mysql.mysql.database_startup_timeout``), which runs mariadbd as its child.
        """
        args = [f"--defaults-file={self.CONFIG}"] + (["--wsrep-new-cluster"] if bootstrap else [])
        # mysql_start recovers the Galera position after a crash, then execs mariadbd (same PID).
        start = (sys.executable, "-m", "cf_mysql_consul_tools.lab.mysql_start")
        mariadbd = ProcessSpec(job="mysql", name="mariadbd", executable=start[0], args=(*start[1:], *args))
        behaviour = str(ctx.prop("lab.start_behaviour", "direct"))
        if behaviour not in ("direct", "cf-mysql"):
            raise ValueError(f"{ctx.instance.name}: property 'lab.start_behaviour' must be 'direct' or "
                             f"'cf-mysql', got {behaviour!r}")
        if behaviour == "cf-mysql":
            timeout = ctx.prop("cf_mysql.mysql.database_startup_timeout", self.DATABASE_STARTUP_TIMEOUT)
            if (not isinstance(timeout, int | float) or isinstance(timeout, bool)
                    or timeout < MIN_DATABASE_STARTUP_TIMEOUT):
                raise ValueError(f"{ctx.instance.name}: property 'cf_mysql.mysql.database_startup_timeout' must be "
                                 f"a number of seconds of at least {MIN_DATABASE_STARTUP_TIMEOUT} (mariadb_ctrl gets "
                                 f"0.8 x it, tries every 5 s, and its first try comes before mysqld is up), "
                                 f"got {timeout!r}")
            ctx.write(self.CTL_CONFIG, json.dumps({
                "mariadbd_argv": [*start, f"--defaults-file={self.CONFIG}"],
                "bootstrap_arg": "--wsrep-new-cluster",
                "socket": self.SOCKET,
                "database_startup_timeout": timeout,
                "events_path": self.CTL_EVENTS,
            }, indent=2))
            mariadbd = ProcessSpec(
                job="mysql", name="mariadbd", executable=sys.executable,
                args=("-m", "cf_mysql_consul_tools.lab.mysql_ctl", self.CTL_CONFIG,
                      *(["--bootstrap"] if bootstrap else [])),
            )
        return [
            mariadbd,
            ProcessSpec(
                job="mysql", name="galera-healthcheck", executable=sys.executable,
                args=("-m", "cf_mysql_consul_tools.lab.galera_healthcheck",
                      "/var/vcap/jobs/mysql/config/galera-healthcheck.json"),
            ),
        ]

    @staticmethod
    def seed_sql(ctx: JobContext) -> list[str]:
        """Users a fresh cluster needs: admin, the healthcheck's and the proxy's monitor user."""
        user, admin = access.mysql_admin(ctx.deployment)
        hc = ctx.prop("cf_mysql.mysql.galera_healthcheck", {}) or {}
        mon = ctx.prop("cf_mysql.mysql.monitor_user", {}) or {}
        return [
            # install-db's password-less root@127.0.0.1 would shadow root@'%' for loopback clients.
            f"DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'root'@'{socket.gethostname()}'",
            f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{admin}'",
            f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%' WITH GRANT OPTION",
            f"CREATE USER IF NOT EXISTS 'galera_healthcheck'@'%' "
            f"IDENTIFIED BY '{hc.get('db_password', 'lab-healthcheck-db-password')}'",
            "GRANT PROCESS ON *.* TO 'galera_healthcheck'@'%'",
            f"CREATE USER IF NOT EXISTS '{mon.get('name', 'proxy_monitor')}'@'%' "
            f"IDENTIFIED BY '{mon.get('password', 'lab-monitor-password')}'",
            f"GRANT PROCESS ON *.* TO '{mon.get('name', 'proxy_monitor')}'@'%'",
        ]


def mysqld_starts(instance_dir: Path, since: float) -> int:
    """How many times mariadbd started on an instance since wall time ``since`` (its error log)."""
    log = instance_dir / Path(MySQLStandIn.ERROR_LOG).relative_to("/var/vcap")
    if not log.exists():
        return 0
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        if "[Note] Starting MariaDB" in line and " as process " in line:
            try:
                stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
            except ValueError:
                continue
            count += stamp >= int(since)
    return count


def ctl_events(instance_dir: Path) -> list[dict[str, Any]]:
    """The cf-mysql start behaviour's events on an instance (``mysql_ctl``: one JSON object a line)."""
    return read_events(instance_dir / Path(MySQLStandIn.CTL_EVENTS).relative_to("/var/vcap"))


def start_timeouts(instance_dir: Path, since: float) -> int:
    """Start attempts the cf-mysql start behaviour gave up on since wall time ``since``."""
    return sum(1 for e in ctl_events(instance_dir) if e.get("event") == "timeout" and float(e.get("ts", 0)) >= since)


def grastate(datadir: Path) -> dict[str, str]:
    """The fields of Galera's ``grastate.dat`` (empty when the node never joined a cluster)."""
    path = datadir / "grastate.dat"
    if not path.exists():
        return {}
    fields = {}
    for line in path.read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    return fields


def mark_safe_to_bootstrap(datadir: Path) -> None:
    """Let this node start a new cluster (the lab only does this when no node is running)."""
    path = datadir / "grastate.dat"
    if path.exists():
        path.write_text(re.sub(r"safe_to_bootstrap:\s*0", "safe_to_bootstrap: 1", path.read_text()))


class ArbitratorStandIn:
    """cf-mysql's ``arbitrator`` job: ``garbd`` joins the Galera group as a vote with no data."""

    ports: tuple[int, ...] = (4567,)

    def prepare(self, ctx: JobContext, *, bootstrap: bool) -> None:
        """Nothing to write but the log directory: garbd takes its options on the command line."""
        ctx.host_path("/var/vcap/sys/log/arbitrator").mkdir(parents=True, exist_ok=True)

    def processes(self, ctx: JobContext, *, bootstrap: bool) -> list[ProcessSpec]:
        """One garbd process."""
        peers = ",".join(f"{a}:4567" for a in galera_peers(ctx.deployment) if a != ctx.instance.address)
        return [ProcessSpec(
            job="arbitrator", name="garbd", executable="/usr/bin/garbd",
            args=("--address", f"gcomm://{peers}", "--group", cluster_name(ctx), "--name", ctx.instance.slug,
                  "--options", "; ".join(o for o in (f"gmcast.listen_addr=tcp://{ctx.instance.address}:4567",
                                                     galera_options(ctx)) if o)),
        )]


class ConsulAgentStandIn:
    """consul-release's ``consul_agent`` job: a Consul 1.8.7 server or client agent."""

    ports: tuple[int, ...] = (8500, 8600, 8301)
    CONFIG_DIR = "/var/vcap/jobs/consul_agent/config"

    def prepare(self, ctx: JobContext, *, bootstrap: bool) -> None:
        """Write config.json from ``consul.agent.*`` properties."""
        if not CONSUL_BIN.exists():
            raise RuntimeError(f"{CONSUL_BIN} is missing; run ./inv (its bootstrap installs Consul 1.8.7)")
        servers = [i.address for i in ctx.deployment.with_job("consul_agent")
                   if consul_agent_mode(i) == "server"]
        server = ctx.prop("consul.agent.mode", "client") == "server"
        config: dict[str, Any] = {
            "datacenter": ctx.prop("consul.agent.datacenter", "dc1"),
            "domain": ctx.prop("consul.agent.domain", "consul"),
            "node_name": ctx.instance.slug,
            "bind_addr": ctx.instance.address,
            "client_addr": ctx.instance.address,
            "advertise_addr": ctx.instance.address,
            "data_dir": "/var/vcap/store/consul_agent",
            "server": server,
            "retry_join": [a for a in servers if a != ctx.instance.address] or servers,
            "retry_interval": "1s",
            "leave_on_terminate": not server,  # a server that leaves on SIGTERM takes ~12 s to stop
            "disable_update_check": True,
            "log_level": str(ctx.prop("consul.agent.log_level", "INFO")),
            "performance": {"raft_multiplier": 1},
            "ports": {"grpc": -1, "serf_wan": 8302 if server else -1},
            "dns_config": {"allow_stale": False, "node_ttl": "0s", "service_ttl": {"*": "0s"}},
        }
        if server:
            config["bootstrap_expect"] = len(servers)
        gossip = ctx.prop("consul.agent.gossip_lan")
        if gossip:
            config["gossip_lan"] = gossip
        ctx.write(f"{self.CONFIG_DIR}/config.json", json.dumps(config, indent=2))
        ctx.host_path("/var/vcap/store/consul_agent").mkdir(parents=True, exist_ok=True)

    def processes(self, ctx: JobContext, *, bootstrap: bool) -> list[ProcessSpec]:
        """One ``consul agent`` process."""
        return [ProcessSpec(job="consul_agent", name="consul", executable=str(CONSUL_BIN),
                            args=("agent", f"-config-dir={self.CONFIG_DIR}"))]


def consul_agent_mode(instance: Instance) -> str:
    """``server`` or ``client``: the instance's consul_agent job's ``consul.agent.mode``."""
    job = instance.job("consul_agent")
    mode = ((job.properties.get("consul") or {}).get("agent") or {}).get("mode") if job else None
    return str(mode or "client")


STAND_INS: dict[str, StandIn] = {
    "mysql": MySQLStandIn(),
    "arbitrator": ArbitratorStandIn(),
    "consul_agent": ConsulAgentStandIn(),
}

REQUIRED_BINARIES = {
    "mysql": ("/usr/sbin/mariadbd", "mariadb-server and galera-4"),
    "arbitrator": ("/usr/bin/garbd", "galera-arbitrator-4"),
}


def check_binaries(jobs: set[str]) -> None:
    """Fail early, naming the Debian package, when a stand-in's binary is not installed."""
    missing = [f"{path} (Debian package {pkg})" for job, (path, pkg) in REQUIRED_BINARIES.items()
               if job in jobs and not Path(path).exists()]
    if "mysql" in jobs and not Path(GALERA_PROVIDER).exists():
        missing.append(f"{GALERA_PROVIDER} (Debian package galera-4)")
    if "mysql" in jobs and shutil.which("rsync") is None:
        missing.append("rsync (Debian package rsync, used for SST)")
    if missing:
        raise RuntimeError("missing: " + "; ".join(missing) + ". Run ./inv once: its bootstrap installs them.")
