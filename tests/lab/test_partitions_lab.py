"""Partitions and Consul faults on the real lab: what a cut stops, what it leaves alone, and that
nothing of it stays behind."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab.partitions import cgroup2_root
from cf_mysql_consul_tools.lab.processes import is_ours_and_alive
from cf_mysql_consul_tools.lab.waiting import wait_until

pytestmark = pytest.mark.integration


def our_rules(lab: Lab) -> list[str]:
    """Every iptables line of this lab (its chains, the jumps to them)."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if lab.network.chain in line]


def test_every_process_and_hook_runs_in_its_instance_cgroup(lab: Lab) -> None:
    for inst in lab.deployment.instances:
        pids = [r.pid for r in lab.records(inst) if is_ours_and_alive(r)]
        assert pids, f"{inst.name} runs nothing"
        assert lab.network.strays(inst, pids) == [], inst.name
    hook = lab.run_in_instance("proxy/1", ["cat", "/proc/self/cgroup"], timeout=10)
    cgroup = lab.network.cgroup(lab.instance("proxy/1"))
    root = cgroup2_root()
    assert cgroup is not None and root is not None
    assert f"0::/{cgroup.relative_to(root)}" in hook.stdout.splitlines()


def test_a_galera_node_cut_off_from_its_peers_leaves_the_primary_and_rejoins_after_heal(lab: Lab) -> None:
    lab.partition("mysql/1", "mysql/0,arbitrator")
    assert [c.describe() for c in lab.partitions()] == ["mysql/1 | mysql/0, arbitrator/0"]
    wait_until(lambda: lab.galera_status("mysql/1").get("wsrep_cluster_status") == "non-Primary", timeout=30,
               what="mysql/1 to leave the Primary component")
    lab.wait_cluster_size(2, timeout=30)  # mysql/0 and the arbitrator keep the quorum
    for node in ("mysql/0", "mysql/1"):  # a client on the host still reaches both sides
        with lab.mysql(node, connect_timeout=2) as conn, conn.cursor() as cur:
            cur.execute("SELECT @@wsrep_node_name")
            assert cur.fetchone() is not None
    assert our_rules(lab)
    assert [c.describe() for c in lab.heal()] == ["mysql/1 | mysql/0, arbitrator/0"]
    assert our_rules(lab) == [] and lab.partitions() == [] and not lab.network.rules_present()
    lab.wait_cluster_size(3, timeout=60)
    lab.wait_synced("mysql/1", timeout=60)


def test_consul_declares_a_cut_off_instance_failed_and_alive_again_after_heal(lab: Lab) -> None:
    lab.partition("proxy/1", "rest")
    t0 = time.monotonic()
    lab.wait_consul_member("proxy-1", "failed", via="consul/0", timeout=30)
    failed_after = time.monotonic() - t0
    # The cut-off agent sees the other side failed too, and the host still reaches its API and its proxy.
    lab.wait_consul_member("consul-0", "failed", via="proxy/1", timeout=30)
    # agent/members answers from gossip alone. Endpoints that read the agent's local state (agent/self)
    # can wait behind its sync to the unreachable servers: Consul 1.8 holds that lock during the RPC.
    assert requests.get(f"{lab.consul_url('proxy/1')}/v1/agent/members", timeout=2).ok
    assert access.proxy_cluster(lab.deployment, "proxy/1") is not None
    lab.heal()
    t1 = time.monotonic()
    lab.wait_consul_member("proxy-1", "alive", via="consul/0", timeout=60)
    print(f"proxy/1 cut off: failed in Consul's view after {failed_after:.1f} s; alive "
          f"{time.monotonic() - t1:.1f} s after the heal")
    assert our_rules(lab) == []


def test_the_consul_leader_is_named_and_losing_it_elects_another(lab: Lab) -> None:
    leader = lab.consul_leader()
    assert leader in {i.name for i in lab.deployment.group("consul")}
    t0 = time.monotonic()
    lab.kill(leader)
    new = wait_until(lambda: (n := lab.consul_leader()) != leader and n, timeout=30, interval=0.05,
                     what="the other Consul servers to elect a new leader")
    print(f"Consul leader {leader} SIGKILLed: {new} leads {time.monotonic() - t0:.2f} s later")
    lab.start(leader)
    lab.wait_consul_member(lab.instance(leader).slug, "alive", via=new, timeout=60)
    # Autopilot makes the restarted server a voter again (after its stabilisation time): lab.up waits for it.
    wait_until(lab.consul_voting, timeout=60, what=f"{leader} to vote in Raft again")


def test_an_experiment_partitions_and_heals_through_its_fault_runner(lab: Lab) -> None:
    from cf_mysql_consul_tools.experiments.faults import FaultRunner
    from cf_mysql_consul_tools.experiments.spec import parse
    from cf_mysql_consul_tools.lab.deploy import rolling_deploy

    spec = parse({"name": "x", "faults": [
        {"id": "cut", "action": "partition", "target": "proxy/1", "from": "consul_leader, mysql",
         "at": {"inserted": 1}},
        {"action": "heal", "at": {"inserted": 2}}]})
    seen: list[list[str]] = []
    runner = FaultRunner(lab, spec.faults, clock=time.monotonic, deploy=rolling_deploy, log=lambda line: seen.append(
        [c.describe() for c in lab.partitions()]))
    runner.start()
    runner.workload_done()
    assert runner.join(timeout=30)
    assert [r.ok for r in runner.records] == [True, True], [r.detail for r in runner.records]
    leader = runner.records[0].detail.split("| ")[1].split(",")[0]
    assert leader.startswith("consul/")
    assert seen[0] == [f"proxy/1 | {leader}, mysql/0, mysql/1"]  # in force once the partition ran
    assert runner.records[1].detail.startswith("heal: proxy/1 | ") and lab.partitions() == []
    assert our_rules(lab) == []
