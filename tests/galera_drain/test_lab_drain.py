"""galera-drain on the real lab (MariaDB Galera x2 + garbd): drain protocol, load and peer gates, max_wait
policies, post-start. Load goes straight to mysql/0 so the shared lab's proxies stay standby."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cf_mysql_consul_tools.benchmarks.writeload import WriteLoad
from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab.lab import LabError
from cf_mysql_consul_tools.lab.waiting import wait_until

pytestmark = pytest.mark.integration
DRAIN = "/var/vcap/jobs/galera-drain/bin/drain"
CONFIG = "/var/vcap/jobs/galera-drain/config/galera-drain.json"
PYTHON = "/var/vcap/packages/cf-mysql-consul/bin/python"
ONE_INTEGER = re.compile(r"^-?\d+\n$")


def drain(lab: Lab, node: str, *args: str, config: str | None = None) -> tuple[int, str]:
    argv = [DRAIN, *args] if config is None else [PYTHON, "-m", "cf_mysql_consul.galera_drain.drain",
                                                  "--config", config, *args]
    result = lab.run_in_instance(node, argv, timeout=60)
    assert ONE_INTEGER.match(result.stdout), f"drain stdout must be one integer, got {result.stdout!r}"
    return int(result.stdout), result.stderr


def drain_until_done(lab: Lab, node: str, *, timeout: float = 90) -> list[int]:
    """Call drain as BOSH does (first job_changed, then job_check_status) until it prints >= 0."""
    outputs = [drain(lab, node, "job_changed", "hash_changed", "mysql", "galera-drain")[0]]

    def again() -> bool:
        outputs.append(drain(lab, node, "job_check_status", "hash_unchanged", "mysql", "galera-drain")[0])
        return outputs[-1] >= 0
    if outputs[0] < 0:
        wait_until(again, timeout=timeout, interval=1, what=f"drain on {node} to say stop")
    return outputs


def custom_config(lab: Lab, node: str, name: str, **changes: Any) -> str:
    """A copy of the rendered config with ``drain.*``/``post_start.*`` changes; returns its /var/vcap path."""
    inst_dir = lab.instance_dir(lab.instance(node))
    raw = json.loads((inst_dir / "jobs/galera-drain/config/galera-drain.json").read_text())
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        raw[section][key] = value
    raw["state_path"] = f"/var/vcap/data/galera-drain/{name}-state.json"
    path = Path(inst_dir / "data/galera-drain" / f"{name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw))
    return f"/var/vcap/data/galera-drain/{name}.json"


@pytest.fixture
def load(lab: Lab) -> Iterator[WriteLoad]:
    writes = WriteLoad(lab, writers=4, rate=300, targets=[lab.instance("mysql/0").address])
    writes.start()
    wait_until(lambda: len(writes.result.acked) > 100, timeout=30, what="the write load to run")
    yield writes
    writes.stop()


def drains_counted(lab: Lab, node: str, outcome: str) -> float:
    """``galera_drain_drain_seconds_count{outcome}`` as the node's galera-drain process serves it."""
    text = requests.get(f"http://{lab.instance(node).address}:9190/metrics", timeout=5).text
    series = f'galera_drain_drain_seconds_count{{outcome="{outcome}"}}'
    line = next(ln for ln in text.splitlines() if ln.startswith(series))
    return float(line.rsplit(" ", 1)[1])


# Draining mysql/1 must meet the load gate, not a planned switchover: the proxies send clients to mysql/0.
@pytest.mark.lab_state(backend="mysql/0")
def test_drain_waits_under_write_load_and_proceeds_when_it_stops(lab: Lab, load: WriteLoad) -> None:
    counted = drains_counted(lab, "mysql/1", "quiet")
    first, err = drain(lab, "mysql/1", "job_changed", "hash_changed", "mysql", "galera-drain")
    assert first < 0 and "write load too high" in err
    again, err = drain(lab, "mysql/1", "job_check_status", "hash_unchanged", "mysql", "galera-drain")
    assert again < 0 and "write load too high" in err
    load.stop()
    outputs = drain_until_done(lab, "mysql/1")
    assert outputs[-1] == 0 and all(o < 0 for o in outputs[:-1])
    log = (lab.instance_dir(lab.instance("mysql/1")) / "sys/log/galera-drain/drain.log").read_text()
    assert any("load quiet for" in line for line in log.splitlines()[-2:])  # then the stop record
    assert drains_counted(lab, "mysql/1", "quiet") == counted + 1  # the job's metrics process counted it


def test_drain_waits_while_another_node_is_not_synced(lab: Lab) -> None:
    with lab.mysql("mysql/1") as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL wsrep_desync = ON")  # mysql/1: Donor/Desynced, its healthcheck says 503
        try:
            for args in (("job_changed", "hash_changed"), ("job_check_status", "hash_unchanged")):
                value, err = drain(lab, "mysql/0", *args, "mysql", "galera-drain")
                assert value < 0 and "mysql/1 to be healthy" in err
        finally:
            cur.execute("SET GLOBAL wsrep_desync = OFF")
    assert drain_until_done(lab, "mysql/0")[-1] == 0


@pytest.mark.lab_state(backend="mysql/0")
def test_max_wait_then_policy_fail_or_proceed(lab: Lab, load: WriteLoad) -> None:
    failing = custom_config(lab, "mysql/1", "fail", drain__max_wait_seconds=2, drain__quiet_seconds=1,
                            drain__max_wait_policy="fail")
    value, _ = drain(lab, "mysql/1", "job_changed", "hash_changed", config=failing)
    assert value < 0
    wait_until(lambda: _fails(lab, failing), timeout=30, interval=1, what="the fail policy to fail the drain")
    proceeding = custom_config(lab, "mysql/1", "proceed", drain__max_wait_seconds=2, drain__quiet_seconds=1)
    assert drain(lab, "mysql/1", "job_changed", "hash_changed", config=proceeding)[0] < 0
    wait_until(lambda: drain(lab, "mysql/1", "job_check_status", "hash_unchanged", config=proceeding)[0] == 0,
               timeout=30, interval=1, what="the proceed policy to let the node stop")


def _fails(lab: Lab, config: str) -> bool:
    try:
        drain(lab, "mysql/1", "job_check_status", "hash_unchanged", config=config)
    except LabError as exc:
        assert "max_wait 2 s passed" in str(exc) and "writes/s > 50" in str(exc)
        assert "max_wait_policy: fail" in str(exc)
        return True
    return False


def test_post_start_blocks_until_synced_and_fails_with_the_state(lab: Lab) -> None:
    lab.stop("mysql/1", "mysql.mariadbd")
    short = custom_config(lab, "mysql/1", "post", post_start__timeout_seconds=2)
    with pytest.raises(LabError, match=r"did not rejoin within 2 s: mysqld not running"):
        lab.run_in_instance("mysql/1", [PYTHON, "-m", "cf_mysql_consul.galera_drain.post_start", "--config", short],
                            timeout=60)
    lab.start("mysql/1", "mysql.mariadbd", wait=False)
    result = lab.run_in_instance("mysql/1", ["/var/vcap/jobs/galera-drain/bin/post-start"], timeout=300)
    assert "rejoined" in result.stderr
    status = lab.galera_status("mysql/1")  # post-start returned: the node must be Synced right now
    assert status["wsrep_local_state_comment"] == "Synced" and status["wsrep_ready"] == "ON"
    assert "waiting" in result.stderr  # it did block while the node was starting
