"""A BOSH-style rolling deploy of the whole shared lab under a steady write load, with galera-drain."""

from __future__ import annotations

import json
import time

import pytest

from cf_mysql_consul_tools.benchmarks.writeload import TrafficKeeper, WriteLoad
from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab.deploy import rolling_deploy
from cf_mysql_consul_tools.lab.standins import mysqld_starts
from cf_mysql_consul_tools.lab.waiting import wait_until

pytestmark = pytest.mark.integration


def test_rolling_deploy_of_the_whole_lab_under_steady_writes_finishes_without_losing_writes(
    lab: Lab,
) -> None:
    """TrafficKeeper enables one proxy whenever none serves: a stand-in for the consul-lock job while the lab
    manifest has none (it is skipped when the manifest has consul-lock). The load (30 writes/s) stays below the
    drain's threshold (50), so the drain waits for its quiet period, not for max_wait."""
    keeper = TrafficKeeper(lab).start() if not lab.deployment.with_job("consul-lock") else None
    load = WriteLoad(lab, writers=2, rate=30)
    lines: list[str] = []
    try:
        load.start()
        wait_until(lambda: len(load.result.acked) > 30, timeout=60, what="writes through the active proxy")
        since = time.time()
        report = rolling_deploy(lab, log=lines.append)
        time.sleep(1)
    finally:
        seen = load.stop()
        if keeper is not None:
            keeper.stop()
            keeper.disable_all()
    assert report.ok, "\n".join(lines)
    assert report.updated == [i.name for i in lab.deployment.instances]
    drains = [s for s in report.steps if s.step == "drain" and s.instance.startswith("mysql/")]
    assert all("galera-drain: 0 after" in s.detail for s in drains), drains
    for node in ("mysql/0", "mysql/1"):
        lab.wait_synced(node, timeout=60)
        assert load.missing_on(node) == [], f"acknowledged writes missing on {node}"
        assert mysqld_starts(lab.instance_dir(lab.instance(node)), since) == 1, f"{node} restarted more than once"
    assert len(seen.acked) > 100
    print("\n".join(lines))
    print(f"deploy {report.seconds:.1f}s, {seen.error_count} client errors of {seen.attempts}: {dict(seen.errors)}")


def test_a_failing_drain_aborts_the_deploy_before_any_instance_stops(lab: Lab) -> None:
    """BOSH stops at the first failure. mysql/1 is desynced (not healthy) and mysql/0's drain config is
    rewritten to max_wait 2 s with the fail policy: the drain fails, mysql/0 keeps running, mysql/1 is not
    touched. Both are restored afterwards."""
    config = lab.instance_dir(lab.instance("mysql/0")) / "jobs/galera-drain/config/galera-drain.json"
    original = config.read_text()
    raw = json.loads(original)
    raw["drain"].update(max_wait_seconds=2, quiet_seconds=1, max_wait_policy="fail")
    pids = {n: {r.key: r.pid for r in lab.records(lab.instance(n))} for n in ("mysql/0", "mysql/1")}
    lines: list[str] = []
    with lab.mysql("mysql/1") as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL wsrep_desync = ON")
        try:
            config.write_text(json.dumps(raw))
            report = rolling_deploy(lab, groups=["mysql"], log=lines.append)
        finally:
            config.write_text(original)
            cur.execute("SET GLOBAL wsrep_desync = OFF")
    assert not report.ok and "mysql/0" in str(report.error) and "max_wait_policy: fail" in str(report.error)
    assert report.updated == [] and [(s.instance, s.step) for s in report.steps] == [("mysql/0", "drain")]
    assert report.steps[0].detail.startswith("FAILED")  # the failed step is reported with its time
    assert {n: {r.key: r.pid for r in lab.records(lab.instance(n))} for n in pids} == pids
    assert all(lab.is_running(n, k) for n, keys in pids.items() for k in keys)
