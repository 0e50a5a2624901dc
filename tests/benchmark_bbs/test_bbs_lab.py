"""BBS's client behaviour and operations against the shared lab's real MariaDB Galera and Consul."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cf_mysql_consul.benchmark_bbs import ops, schema
from cf_mysql_consul.benchmark_bbs.client import Cursor, Pool
from cf_mysql_consul.benchmark_bbs.errors import BbsError
from cf_mysql_consul.benchmark_bbs.resolve import ConsulDnsResolver, FixedResolver
from cf_mysql_consul_tools.access import mysql_admin
from cf_mysql_consul_tools.experiments.topology import consul_dns_address
from cf_mysql_consul_tools.lab import Lab

pytestmark = pytest.mark.integration
DB = "bbs_probe"


@pytest.fixture
def pool(lab: Lab) -> Iterator[Pool]:
    """A BBS pool straight to mysql/0 on a fresh BBS schema (dropped afterwards)."""
    user, password = mysql_admin(lab.deployment)
    with lab.mysql("mysql/0") as conn:
        schema.recreate(conn, DB)
    the_pool = Pool(FixedResolver([f"{lab.instance('mysql/0').address}:3306"]), user=user, password=password,
                    database=DB, retry_delay=0.05)
    yield the_pool
    the_pool.close()
    with lab.mysql("mysql/0") as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")


def killed_once(lab: Lab, calls: list[int]) -> Any:
    """A transaction body whose first run has its connection killed by the server mid-transaction."""
    def body(cur: Cursor) -> int:
        calls.append(1)
        cur.execute("SELECT CONNECTION_ID()")
        own = cur.fetchone()[0]
        cur.execute("INSERT INTO configurations (id, value) VALUES (%s, 'x')", (f"attempt-{len(calls)}",))
        if len(calls) == 1:
            with lab.mysql("mysql/0") as admin, admin.cursor() as other:
                other.execute(f"KILL CONNECTION {own}")
        cur.execute("SELECT COUNT(*) FROM configurations")
        return int(cur.fetchone()[0])
    return body


def test_whole_transaction_is_retried_after_a_lost_connection(lab: Lab, pool: Pool) -> None:
    calls: list[int] = []
    retried: list[BbsError] = []
    pool.transact(killed_once(lab, calls), on_retry=retried.append)
    assert len(calls) == 2 and [e.kind for e in retried] == ["lost_connection"]
    with lab.mysql("mysql/0", database=DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM configurations WHERE id LIKE 'attempt-%'")
        assert [r[0] for r in cur.fetchall()] == ["attempt-2"]  # the first attempt was rolled back


def test_no_retry_fails_like_an_unpatched_bbs(lab: Lab, pool: Pool) -> None:
    pool.attempts = 1
    calls: list[int] = []
    with pytest.raises(BbsError) as info:
        pool.transact(killed_once(lab, calls))
    assert info.value.kind == "lost_connection" and info.value.code == 2013 and len(calls) == 1


def test_a_write_and_its_commit_in_one_round_trip_commit_or_roll_back_together(lab: Lab, pool: Pool) -> None:
    def write_two(cur: Cursor) -> None:
        cur.execute("INSERT INTO configurations (id, value) VALUES ('first', 'x')")
        cur.execute_and_commit("INSERT INTO configurations (id, value) VALUES ('second', 'x')")

    pool.transact(write_two)
    with pytest.raises(BbsError) as info:  # 'second' exists: the write fails, so the COMMIT never runs
        pool.transact(lambda cur: (cur.execute("INSERT INTO configurations (id, value) VALUES ('third', 'x')"),
                                   cur.execute_and_commit("INSERT INTO configurations (id, value) "
                                                          "VALUES ('second', 'y')")))
    assert info.value.kind == "exists"
    with lab.mysql("mysql/0", database=DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, value FROM configurations WHERE id IN ('first', 'second', 'third') ORDER BY id")
        assert cur.fetchall() == (("first", "x"), ("second", "x"))  # 'third' was rolled back with its transaction
    assert pool.transact(lambda cur: cur.execute("SELECT 1")) == 1  # the connection went back clean


def test_claim_and_start_write_only_when_something_changes(pool: Pool) -> None:
    guid = "BENCHMARK-BBS-GUID-000001"
    ops.desire_lrp(pool, guid)
    assert ops.claim_actual_lrp(pool, guid, 0, guid + "-i", "cell-1") is True
    assert ops.claim_actual_lrp(pool, guid, 0, guid + "-i", "cell-1") is False
    assert ops.start_actual_lrp(pool, guid, 0, guid + "-i", "cell-1") is True
    assert ops.start_actual_lrp(pool, guid, 0, guid + "-i", "cell-1") is False
    with pytest.raises(BbsError) as info:
        ops.claim_actual_lrp(pool, guid, 0, "other-instance", "cell-2")
    assert info.value.kind == "cannot_transition"
    assert [(a.state, a.cell_id) for a in ops.actual_lrps_by_cell(pool, "cell-1")] == [(ops.RUNNING, "cell-1")]
    assert ops.desired_scheduling_infos(pool) == 1 and len(ops.all_actual_lrps(pool)) == 1
    assert ops.convergence_gathering(pool, ["cell-0", "cell-1"]) >= 2  # the running LRP is listed for route checks
    with pytest.raises(BbsError) as info:
        ops.desire_lrp(pool, guid)
    assert info.value.kind == "exists"


def test_new_connections_resolve_the_service_through_consul_dns(lab: Lab, pool: Pool) -> None:
    consul = f"http://{lab.instance('consul/0').address}:8500"
    node = lab.instance("mysql/1").address
    requests.put(f"{consul}/v1/agent/service/register", timeout=5,
                 json={"Name": "bbs-test", "ID": "bbs-test", "Address": node, "Port": 3306}).raise_for_status()
    try:
        resolver = ConsulDnsResolver(consul_dns_address(lab), "bbs-test.service.consul")
        assert resolver.candidates() == [(node, 3306)]
        pool.resolver = resolver
        pool.close()
        seen = pool.transact(lambda cur: (cur.execute("SELECT @@hostname, @@wsrep_node_address"), cur.fetchone())[1])
        assert node in str(seen)
    finally:
        requests.put(f"{consul}/v1/agent/service/deregister/bbs-test", timeout=5)


def test_errand_program_prints_the_ginkgo_block(lab: Lab, tmp_path: Path) -> None:
    user, password = mysql_admin(lab.deployment)
    node = lab.instance("mysql/0").address
    config = {"desired_lrps": 100, "num_reps": 2, "num_trials": 1, "cycle_seconds": 0.2,
              "database_connection_string": f"{user}:{password}@tcp({node}:3306)/errand_probe"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    try:
        argv = [sys.executable, "-m", "cf_mysql_consul.benchmark_bbs", "--config", str(tmp_path / "config.json"),
                "--out", str(tmp_path / "out")]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    finally:
        with lab.mysql("mysql/0") as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS errand_probe")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("• [MEASUREMENT]\nmain benchmark test\n") and "Test Suite Passed" in done.stdout
    assert json.loads((tmp_path / "out" / "run.json").read_text())["seeded"] == 100
