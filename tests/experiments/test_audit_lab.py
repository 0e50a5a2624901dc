"""The audit catches what it exists to catch, on the real shared lab: a write lost on one node
(deliberately deleted there with replication off) and two proxies serving at once
(deliberately enabled together through their real APIs)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cf_mysql_consul.benchmark_bbs import schema
from cf_mysql_consul.benchmark_bbs.client import Pool
from cf_mysql_consul.benchmark_bbs.config import BenchmarkConfig
from cf_mysql_consul.benchmark_bbs.resolve import FixedResolver
from cf_mysql_consul.benchmark_bbs.workload import Workload
from cf_mysql_consul_tools.access import mysql_admin, serving
from cf_mysql_consul_tools.experiments import audit
from cf_mysql_consul_tools.experiments.topology import set_traffic
from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab.waiting import wait_until

pytestmark = pytest.mark.integration
DB = "audit_probe"


@pytest.fixture
def seeded(lab: Lab) -> Iterator[Workload]:
    """60 LRPs written through a BBS pool straight to mysql/0; the database is dropped afterwards."""
    user, password = mysql_admin(lab.deployment)
    with lab.mysql("mysql/0") as conn:
        schema.recreate(conn, DB)
    node = lab.instance("mysql/0").address
    config = BenchmarkConfig(desired_lrps=60, num_reps=3, num_populate_workers=4, database_password=password,
                             database_addresses=(f"{node}:3306",), database_name=DB).check()
    pool = Pool(FixedResolver(config.database_addresses), user=user, password=password, database=DB)
    workload = Workload(config, pool)
    workload.seed()
    pool.close()
    yield workload
    with lab.mysql("mysql/0") as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")


def test_audit_catches_a_write_lost_on_one_node(lab: Lab, seeded: Workload) -> None:
    """A row is deleted on mysql/1 only (wsrep_on=OFF), as if that node had lost an acknowledged write."""
    acks = seeded.outcome.acks
    assert len(acks.desired) == 60
    assert audit.audit_writes(lab, acks, DB).ok
    assert audit.checksums(lab, DB).ok
    with lab.mysql("mysql/1") as conn, conn.cursor() as cur:
        cur.execute("SET SESSION wsrep_on = OFF")
        cur.execute(f"DELETE FROM {DB}.desired_lrps WHERE process_guid = 'BENCHMARK-BBS-GUID-000007'")
        cur.execute("SET SESSION wsrep_on = ON")
    writes = audit.audit_writes(lab, acks, DB)
    assert not writes.ok
    assert "mysql/1: 1 acknowledged desired LRPs missing" in writes.detail and "GUID-000007" in writes.detail
    assert "mysql/0" not in writes.detail
    sums = audit.checksums(lab, DB)
    assert not sums.ok and "differ" in sums.detail


def test_audit_catches_two_proxies_serving_at_once(lab: Lab) -> None:
    """Traffic is enabled on both proxies through their APIs for a moment."""
    proxies = [i.name for i in lab.deployment.with_job("proxy")]
    t0 = time.monotonic()
    time.sleep(0.05)
    assert audit.overlap(lab, since=t0, until=time.monotonic(), not_serving={}).ok
    already = set(serving(lab.deployment))
    enabled = [p for p in proxies if p not in already]
    try:
        for name in enabled:
            set_traffic(lab, name, True, "test: deliberate overlap")
        wait_until(lambda: len(serving(lab.deployment)) >= 2, timeout=10, what="both proxies serving")
    finally:
        for name in enabled:
            set_traffic(lab, name, False, "test: overlap over")
    until = time.monotonic()
    check = audit.overlap(lab, since=t0, until=until, not_serving={})
    assert not check.ok, check.detail
    pairs = {frozenset((o["first"], o["second"])) for o in check.data["overlaps"]}
    assert pairs == {frozenset(("proxy/0", "proxy/1"))}
    assert check.data["overlaps"] and "both served" in check.detail
    # Windows in which the runner made a proxy unable to serve are not counted against it.
    excused = {p: [(t0, until + 1)] for p in enabled}
    assert audit.overlap(lab, since=t0, until=until, not_serving=excused).ok
