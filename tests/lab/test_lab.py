"""The shared lab on real MariaDB Galera, garbd and Consul 1.8.7."""

from __future__ import annotations

import uuid

import pytest

from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab.waiting import wait_until

pytestmark = pytest.mark.integration


def test_cluster_is_primary_with_three_members_and_both_nodes_synced(lab: Lab) -> None:
    for node in ("mysql/0", "mysql/1"):
        status = lab.galera_status(node)
        assert status["wsrep_cluster_status"] == "Primary"
        assert status["wsrep_cluster_size"] == "3"
        assert status["wsrep_local_state_comment"] == "Synced"


def test_a_row_written_through_mysql0_is_read_from_mysql1(lab: Lab) -> None:
    marker = uuid.uuid4().hex
    with lab.mysql("mysql/0") as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS labtest")
        cur.execute("CREATE TABLE IF NOT EXISTS labtest.t (id VARCHAR(32) PRIMARY KEY)")
        cur.execute("INSERT INTO labtest.t VALUES (%s)", (marker,))
    with lab.mysql("mysql/1") as conn, conn.cursor() as cur:
        cur.execute("SET SESSION wsrep_sync_wait = 1")
        cur.execute("SELECT id FROM labtest.t WHERE id = %s", (marker,))
        assert cur.fetchone() == (marker,)


def test_every_instance_has_its_own_address_and_sees_its_own_var_vcap(lab: Lab) -> None:
    addresses = {i.address for i in lab.deployment.instances}
    assert len(addresses) == len(lab.deployment.instances)
    with lab.mysql("mysql/1") as conn, conn.cursor() as cur:
        cur.execute("SELECT @@datadir, @@bind_address")
        datadir, bind = cur.fetchone()
    assert datadir.rstrip("/") == "/var/vcap/store/mysql"
    assert bind == lab.instance("mysql/1").address
    assert (lab.instance_dir(lab.instance("mysql/1")) / "store" / "mysql" / "grastate.dat").exists()


def test_consul_lists_every_agent_alive(lab: Lab) -> None:
    members = lab.consul_members(via="consul/0")
    expected = {i.slug for i in lab.deployment.with_job("consul_agent")}
    assert expected <= set(members)
    assert {members[m] for m in expected} == {"alive"}


def test_galera_healthcheck_stand_in_reports_synced(lab: Lab) -> None:
    import requests

    reply = requests.get(f"http://{lab.instance('mysql/0').address}:9200/api/v1/status", timeout=5)
    assert reply.status_code == 200
    assert reply.json()["wsrep_local_state_comment"] == "Synced"
    assert reply.json()["healthy"] is True


def test_sigkill_mysql0_keeps_a_primary_of_two_and_restart_rejoins(lab: Lab) -> None:
    lab.kill("mysql/0", "mysql.mariadbd")
    assert not lab.is_running("mysql/0", "mysql.mariadbd")
    lab.wait_cluster_size(2, timeout=30)  # the arbitrator keeps quorum
    with lab.mysql("mysql/1") as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS labtest")
        cur.execute("CREATE TABLE IF NOT EXISTS labtest.during_outage (id INT PRIMARY KEY)")
        cur.execute("REPLACE INTO labtest.during_outage VALUES (1)")
    logs = lab.instance_dir(lab.instance("mysql/0")) / "sys" / "log" / "mysql"
    err_size = (logs / "mysql.err.log").stat().st_size
    lab.start("mysql/0")
    lab.wait_synced("mysql/0", timeout=60)
    # The crashed node recovered its Galera position first and so caught up by IST.
    assert "recovered Galera position" in (logs / "mariadbd.stderr.log").read_text()
    assert "IST received" in (logs / "mysql.err.log").read_text(errors="replace")[err_size:]
    lab.wait_cluster_size(3, timeout=30)
    with lab.mysql("mysql/0") as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM labtest.during_outage")
        assert cur.fetchone() == (1,)  # caught up (IST) with what was written while it was down


def test_paused_node_is_reported_paused_and_resumes(lab: Lab) -> None:
    lab.pause("arbitrator/0", "arbitrator.garbd")
    row = next(r for r in lab.status() if r.name == "arbitrator/0")
    assert {p.key: p.state for p in row.processes}["arbitrator.garbd"] == "paused"
    lab.resume("arbitrator/0", "arbitrator.garbd")
    row = next(r for r in lab.status() if r.name == "arbitrator/0")
    assert {p.key: p.state for p in row.processes}["arbitrator.garbd"] == "running"


def test_a_warm_restart_from_kept_state_brings_back_a_serving_proxy(lab: Lab) -> None:
    from cf_mysql_consul_tools.lab import lock_checks as lc
    from cf_mysql_consul_tools.lab.tier import describe, tier

    lab.down()  # keeps state: the next up is a warm restart
    assert lab.alive_pids() == []
    lab.up()
    serving = lc.wait_one_active(lab, timeout=60)
    assert lab.is_running(serving, "consul-lock.consul-lock")
    # The service registration reaches DNS through the Raft leader shortly after traffic is enabled.
    wait_until(lambda: lc.write_through_dns(lab, via=serving) == lab.instance(serving).address, timeout=10,
               what=f"a write through mysql.service.consul to reach {serving}")
    view = tier(lab)
    assert view.serving == [serving]
    assert view.lock.holder == serving
    assert describe(view)[0] == f"serving: {serving}"
