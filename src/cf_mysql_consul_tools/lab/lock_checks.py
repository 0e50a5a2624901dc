"""Lab helpers for the lock's tests and benchmark: who is active, DNS, writes, both drains at once."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver
import pymysql

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.waiting import wait_until
from cf_mysql_consul_tools.serving import AuditReport, audit

DRAIN_ARGS = ["job_shutdown", "hash_unchanged"]


def proxies(lab: Lab) -> list[str]:
    """Names of the instances that run the proxy job."""
    return [i.name for i in lab.deployment.with_job("proxy")]


def wait_one_active(lab: Lab, *, timeout: float = 60, other_than: str | None = None) -> str:
    """Wait until exactly one proxy (not ``other_than``) has traffic enabled; return its name."""
    def one() -> str:
        on = access.serving(lab.deployment)
        return on[0] if len(on) == 1 and on[0] != other_than else ""
    what = "exactly one active proxy" + (f" other than {other_than}" if other_than else "")
    found: str = wait_until(one, timeout=timeout, what=what, interval=0.05,
                            describe=lambda: f"enabled: {access.serving(lab.deployment)}")
    return found


def agent_dns(address: str, name: str) -> tuple[str, ...] | None:
    """A records of ``name`` from the Consul agent DNS (port 8600) at ``address``, sorted: () when it
    has none, None when the agent does not answer."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [address]
    resolver.port = 8600
    resolver.lifetime = 1.0
    try:
        return tuple(sorted(a.address for a in resolver.resolve(name, "A")))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return ()
    except (dns.resolver.NoNameservers, dns.exception.Timeout):
        return None


def resolve(lab: Lab, via: str, service: str = "mysql") -> list[str]:
    """A records of ``<service>.service.consul`` from the Consul agent DNS on ``via`` ([] when none)."""
    return list(agent_dns(lab.instance(via).address, f"{service}.service.consul") or ())


def _write(address: str, admin: tuple[str, str], timeout: float) -> bool:
    try:
        conn = pymysql.connect(host=address, port=3306, user=admin[0], password=admin[1], connect_timeout=timeout,
                               read_timeout=timeout, write_timeout=timeout, autocommit=True)
        with conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS locktest")
            cur.execute("CREATE TABLE IF NOT EXISTS locktest.w (id INT AUTO_INCREMENT PRIMARY KEY, "
                        "at DOUBLE, via VARCHAR(32))")
            cur.execute("INSERT INTO locktest.w (at, via) VALUES (%s, %s)", (time.time(), address))
    except pymysql.MySQLError:
        return False
    return True


def write_through_dns(lab: Lab, via: str, *, timeout: float = 1.0) -> str | None:
    """Resolve ``mysql.service.consul`` on ``via``'s agent and write one row; return the address used."""
    admin = access.mysql_admin(lab.deployment)
    return next((address for address in resolve(lab, via) if _write(address, admin, timeout)), None)


def write_to(lab: Lab, proxy: str, *, timeout: float = 1.0) -> str | None:
    """Write one row through proxy ``proxy``'s own address; return the address, or None when refused."""
    address = lab.instance(proxy).address
    return address if _write(address, access.mysql_admin(lab.deployment), timeout) else None


def lock_state(lab: Lab, name: str) -> dict[str, Any]:
    """consul-lock's state file on ``name`` (empty when missing)."""
    path = lab.instance_dir(lab.instance(name)) / "sys" / "run" / "consul-lock" / "state.json"
    try:
        result: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return result


def wait_ready(lab: Lab, *, timeout: float = 60) -> tuple[str, str]:
    """Wait for one active proxy and a standby whose consul-lock has a session; (active, standby)."""
    active = wait_one_active(lab, timeout=timeout)
    standby = next(n for n in proxies(lab) if n != active)
    wait_until(lambda: lock_state(lab, standby).get("session") and "standby" in str(lock_state(lab, standby)
                                                                                       .get("reason")),
               timeout=timeout, what=f"{standby}'s consul-lock to be a standby with a session",
               describe=lambda: str(lock_state(lab, standby)))
    return active, standby


def run_drains(lab: Lab, name: str, *, timeout: float = 60) -> dict[str, str]:
    """Run the proxy's and consul-lock's ``bin/drain`` at the same time, as BOSH does; job -> stdout."""
    def one(job: str) -> str:
        result = lab.run_in_instance(name, [f"/var/vcap/jobs/{job}/bin/drain", *DRAIN_ARGS], timeout=timeout)
        return result.stdout.strip()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {job: pool.submit(one, job) for job in ("proxy", "consul-lock")}
        return {job: f.result() for job, f in futures.items()}


def proxy_dirs(lab: Lab) -> dict[str, Path]:
    """Instance name -> its /var/vcap directory, for every proxy."""
    return {n: lab.instance_dir(lab.instance(n)) for n in proxies(lab)}


def audit_lab(lab: Lab, *, since: float,
              not_serving: dict[str, list[tuple[float, float]]] | None = None) -> AuditReport:
    """Audit every proxy of the lab since monotonic ``since``."""
    return audit(proxy_dirs(lab), since=since, not_serving=not_serving)
