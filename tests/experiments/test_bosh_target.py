"""``experiment.run --target bosh``: the dry-run plan of every definition (exact bosh command
lines), the parsing of ``bosh instances --json``, target resolution through the proxies' API,
the faults, heal and rolling deploy as bosh commands, the overlap audit on logs fetched through
``bosh ssh``, and the error messages (no bosh CLI, unknown instance group, bad vars store).

A BOSH director cannot exist on this machine and the bosh CLI cannot be installed, so every test
that needs ``bosh`` puts a FAKE ``bosh`` first on PATH: a small script that records its argv and
prints canned ``bosh instances --json`` / ``bosh ssh -r --json`` output in the bosh CLI v7 JSON
table format. The fake proxies' API servers listen on 127.0.77.x only.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.bosh.variables import VarsStore, definitions
from cf_mysql_consul_tools.experiments import audit, spec
from cf_mysql_consul_tools.experiments.bosh_target import (
    PROCESSES,
    BoshSettings,
    BoshTarget,
    BoshTargetError,
    load_vars_store,
    parse_instances,
    rolling_deploy,
)
from cf_mysql_consul_tools.experiments.faults import FaultRunner
from tests.invoke_tasks import REPO, run_task, would_run

MANIFEST = REPO / "manifests" / "cf-mysql-consul.yml"
B = "bosh -e vbox -d cf-mysql-consul -n"
ARGV = ["-e", "vbox", "-d", "cf-mysql-consul", "-n"]
INSTANCES = f"{B} instances --ps --details --json"
MONIT = {"consul": ["consul_agent"], "mysql": ["mariadb_ctrl", "galera-healthcheck", "consul_agent"],
         "arbitrator": ["garbd", "galera-healthcheck", "consul_agent"],
         "proxy": ["proxy", "consul-lock", "consul_agent"]}
IPS = {"consul/0": "127.0.77.10", "mysql/0": "127.0.77.1", "mysql/1": "127.0.77.2", "arbitrator/0": "127.0.77.3",
       "proxy/0": "127.0.77.4", "proxy/1": "127.0.77.5"}


def instances_json(states: dict[str, str] | None = None, ips: dict[str, str] = IPS) -> str:
    """What ``bosh instances --ps --details --json`` prints (bosh CLI v7): a VM row, then its process rows."""
    rows: list[dict[str, str]] = []
    for name, ip in ips.items():
        group, index = name.split("/")
        slug = f"{group}/{index}0e3c1d2-6f7a-4b8c-9d0e-{index * 12}"
        procs = {p: (states or {}).get(f"{name}:{p}", "running") for p in MONIT.get(group, [])}
        vm_state = "running" if set(procs.values()) <= {"running"} else "failing"
        rows.append({"instance": slug, "process": "", "process_state": vm_state, "az": "z1", "ips": ip,
                     "state": "started", "vm_cid": f"vm-{group}-{index}", "vm_type": "default", "disk_cids": "",
                     "agent_id": "a", "index": index, "resurrection_paused": "false", "bootstrap": "false",
                     "ignore": "false"})
        rows += [{"instance": slug, "process": p, "process_state": s, "az": "", "ips": "", "state": "",
                  "vm_cid": "", "vm_type": "", "disk_cids": "", "agent_id": "", "index": "",
                  "resurrection_paused": "", "bootstrap": "", "ignore": ""} for p, s in procs.items()]
    header = {"instance": "Instance", "process": "Process", "process_state": "Process State", "az": "AZ",
              "ips": "IPs", "index": "Index"}
    return json.dumps({"Tables": [{"Content": "instances", "Header": header, "Rows": rows, "Notes": [""]}],
                       "Blocks": None, "Lines": ["Using environment '192.168.50.6' as client 'admin'",
                                                 "Task 17", "Task 17 done", "Succeeded"]}, indent=4)


@pytest.fixture(autouse=True)
def no_bosh_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")


class FakeBosh:
    """A FAKE bosh CLI on PATH (no director can exist here): records argv, prints canned JSON."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "bin").mkdir(parents=True)
        (root / "instances").mkdir()
        script = root / "bin" / "bosh"
        script.write_text(f"""#!{sys.executable}
# Stand-in for the bosh CLI: a BOSH director cannot exist on this test machine.
import json, pathlib, sys
root = pathlib.Path({str(root)!r})
args = sys.argv[1:]
with open(root / "argv.jsonl", "a") as f:
    f.write(json.dumps(args) + "\\n")
if "instances" in args:
    queue = sorted((root / "instances").glob("*.json"))
    print(queue[0].read_text())
    if len(queue) > 1:
        queue[0].unlink()
elif "ssh" in args and "-r" in args:
    inst, path = args[args.index("ssh") + 1], args[args.index("-c") + 1].split()[2]
    local = root / "vms" / inst.replace("/", "-") / path.lstrip("/")
    row = {{"instance": inst, "stdout": local.read_text() if local.exists() else "", "stderr": "",
           "exit_code": "0", "error": ""}}
    print(json.dumps({{"Tables": [{{"Content": "results", "Rows": [row]}}], "Blocks": None, "Lines": []}}))
""")
        script.chmod(0o755)
        self.queue(instances_json())

    def queue(self, *outputs: str) -> None:
        """Outputs of the next ``bosh instances`` calls (the last one repeats)."""
        for old in (self.root / "instances").glob("*.json"):
            old.unlink()
        for n, text in enumerate(outputs):
            (self.root / "instances" / f"{n:03d}.json").write_text(text)

    def calls(self) -> list[list[str]]:
        path = self.root / "argv.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def vm_file(self, instance: str, path: str, text: str) -> None:
        local = self.root / "vms" / instance.replace("/", "-") / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text)


@pytest.fixture
def fake_bosh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeBosh:
    fake = FakeBosh(tmp_path / "fake-bosh")
    monkeypatch.setenv("PATH", f"{fake.root / 'bin'}:/usr/bin:/bin")
    return fake


@pytest.fixture
def vars_store(tmp_path: Path) -> Path:
    """What ``bosh deploy --vars-store`` leaves: every declared variable (certificates as placeholders)."""
    store = VarsStore(placeholders=True)
    store.generate(definitions(yaml.safe_load(MANIFEST.read_text())))
    path = tmp_path / "vars.yml"
    path.write_text(yaml.safe_dump({**store.values, "cf_mysql_mysql_admin_password": "admin-pw",
                                    "proxy_api_password": "api-pw"}))
    return path


class ProxyApis:
    """Fake proxy APIs (GET /v0/cluster with basic auth) on 127.0.77.4 and .5, one port for both."""

    def __init__(self) -> None:
        self.cluster = {"proxy/0": {"trafficEnabled": False, "activeBackend": {"name": "mysql/0"}},
                        "proxy/1": {"trafficEnabled": True, "activeBackend": {"name": "mysql/1"}}}
        self.servers: list[ThreadingHTTPServer] = []
        port = 0
        for name in ("proxy/0", "proxy/1"):
            server = ThreadingHTTPServer((IPS[name], port), self._handler(name))
            port = server.server_address[1]
            self.servers.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.port = port

    def _handler(self, name: str) -> type[BaseHTTPRequestHandler]:
        apis = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                good = "Basic " + base64.b64encode(b"proxy-admin:api-pw").decode()
                if self.headers.get("Authorization") != good:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps(apis.cluster[name]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def proxy_apis() -> Iterator[ProxyApis]:
    apis = ProxyApis()
    yield apis
    apis.close()


def settings(tmp_path: Path, vars_store: Path, api_port: int = 8080) -> BoshSettings:
    ops = tmp_path / "api-port.yml"
    ops.write_text(yaml.safe_dump([{"type": "replace", "value": api_port,
                                    "path": "/instance_groups/name=proxy/jobs/name=proxy/properties/api_port?"}]))
    return BoshSettings(manifest=MANIFEST, vars_store=vars_store, ops=(ops,))


def connect(tmp_path: Path, vars_store: Path, api_port: int = 8080) -> BoshTarget:
    return BoshTarget.connect(settings(tmp_path, vars_store, api_port), logs_dir=tmp_path / "logs",
                              log=lambda line: None, start_timeout=10, poll_interval=0.05)


# ---- the dry-run plan ---------------------------------------------------------------------------

def cat(instance: str, path: str) -> str:
    return f"{B} ssh {instance} -r --json -c 'sudo cat {path} 2>/dev/null || true'"


AUDIT_LOGS = [cat(p, f) for p in ("proxy/0", "proxy/1")
              for f in ("/var/vcap/sys/log/proxy/events.jsonl", "/var/vcap/sys/log/consul-lock/audit.jsonl")]
KILL_MASTER = (f"{B} ssh MASTER_MYSQL -c 'sudo /var/vcap/bosh/bin/monit unmonitor mariadb_ctrl && "
               "sudo pkill -9 -f \"[m]ysqld\"'")
START_MASTER = f"{B} ssh MASTER_MYSQL -c 'sudo /var/vcap/bosh/bin/monit start mariadb_ctrl'"
# Clients resolve mysql.service.consul through a VM's resolver: the Consul server instance's agent on 127.0.0.1:53.
TUNNEL = f"{B} ssh consul/0 --opts=-N --opts=-L127.0.0.1:LOCAL_PORT:127.0.0.1:53"
PLANS = {
    "exp1": [INSTANCES,
             f"{B} ssh proxy/0 -c 'sudo /var/vcap/bosh/bin/monit stop consul-lock'", INSTANCES,
             f"{B} ssh proxy/1 -c 'sudo /var/vcap/bosh/bin/monit stop consul-lock'", INSTANCES,
             KILL_MASTER, START_MASTER, INSTANCES, *AUDIT_LOGS,
             f"{B} ssh proxy/0 -c 'sudo /var/vcap/bosh/bin/monit start consul-lock'", INSTANCES,
             f"{B} ssh proxy/1 -c 'sudo /var/vcap/bosh/bin/monit start consul-lock'", INSTANCES],
    "exp2": [INSTANCES, TUNNEL,
             f"{B} ssh ACTIVE_PROXY -c 'sudo /var/vcap/bosh/bin/monit unmonitor proxy && "
             "sudo pkill -9 -f \"[c]f_mysql_consul.proxy\"'",
             f"{B} ssh ACTIVE_PROXY -c 'sudo /var/vcap/bosh/bin/monit start proxy'", INSTANCES, *AUDIT_LOGS],
    "exp3": [INSTANCES, TUNNEL, KILL_MASTER, START_MASTER, INSTANCES, *AUDIT_LOGS],
    "exp4": [INSTANCES, TUNNEL, f"{B} recreate mysql", *AUDIT_LOGS],
    "exp5": [INSTANCES, TUNNEL, f"{B} recreate mysql", *AUDIT_LOGS],
    "hung-master": [INSTANCES, TUNNEL, f"{B} ssh MASTER_MYSQL -c 'sudo pkill -STOP -f \"[m]ysqld\"'",
                    f"{B} ssh MASTER_MYSQL -c 'sudo pkill -CONT -f \"[m]ysqld\"'", *AUDIT_LOGS],
    "proxy-vm-loss": [INSTANCES, TUNNEL,
                      f"{B} ssh ACTIVE_PROXY -c 'sudo /var/vcap/bosh/bin/monit unmonitor all && sudo pkill -9 -f "
                      "\"[c]onsul agent|[c]f_mysql_consul.proxy|[c]f_mysql_consul.lock\"'",
                      f"{B} ssh ACTIVE_PROXY -c 'sudo /var/vcap/bosh/bin/monit start all'", INSTANCES, *AUDIT_LOGS],
}


def test_every_definition_has_a_plan() -> None:
    assert set(PLANS) == set(spec.names())


@pytest.mark.parametrize("name", sorted(PLANS))
def test_dry_run_prints_every_bosh_command_in_order(name: str) -> None:
    code, out, err = run_task("experiment.run", name, "--target", "bosh", "--dry-run")
    assert code == 0, err
    assert would_run(out) == PLANS[name]
    for fault in spec.load(name).faults:
        assert f"# fault {fault.id} {fault.when}: {fault.action}" in out


def test_dry_run_scales_the_fault_points_and_runs_nothing(fake_bosh: FakeBosh) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    code, out, err = run_task("experiment.run", "exp2", "--target", "bosh", "--dry-run", "--scale", "0.1")
    assert code == 0, err
    assert "# fault kill-proxy at 2000 inserted LRPs: kill active_proxy = ACTIVE_PROXY" in out
    assert "# fault restart-proxy at 3000 inserted LRPs: start ACTIVE_PROXY" in out
    assert fake_bosh.calls() == []  # a dry run never calls bosh, even when it is there


def test_dry_run_resolves_the_name_the_consul_domain_makes(tmp_path: Path) -> None:
    """consul-lock's consul_domain (consul_agent's consul.agent.domain) is the name clients resolve."""
    ops = tmp_path / "domain.yml"
    path = "/instance_groups/name=proxy/jobs/name=consul-lock/properties/consul_domain"
    ops.write_text(yaml.safe_dump([{"type": "replace", "value": "cf.internal", "path": path}]))
    code, out, err = run_task("experiment.run", "exp2", "--target", "bosh", "--dry-run", "--ops", str(ops))
    assert code == 0, err
    assert "clients find it as mysql.service.cf.internal the way the VMs do: consul/0's resolver" in out
    assert TUNNEL in would_run(out)


def test_dry_run_with_the_experiments_ops_file_uses_its_topology() -> None:
    code, out, err = run_task("experiment.run", "exp1", "--target", "bosh", "--dry-run",
                              "--ops", "exp1-single-registered-proxy", "-e", "lite", "-d", "exp1")
    assert code == 0, err
    b = "bosh -e lite -d exp1 -n"
    assert would_run(out) == [
        f"{b} instances --ps --details --json",
        KILL_MASTER.replace(B, b), START_MASTER.replace(B, b), f"{b} instances --ps --details --json",
        f"{b} ssh proxy/0 -r --json -c 'sudo cat /var/vcap/sys/log/proxy/events.jsonl 2>/dev/null || true'",
        f"{b} ssh proxy-unregistered/0 -r --json -c "
        "'sudo cat /var/vcap/sys/log/proxy/events.jsonl 2>/dev/null || true'",
    ]
    assert "traffic enabled on proxy/0 through PATCH /v0/cluster" in out


def test_an_experiment_that_wants_the_lock_is_refused_on_a_deployment_without_it() -> None:
    code, _, err = run_task("experiment.run", "exp2", "--target", "bosh", "--dry-run",
                            "--ops", "exp1-single-registered-proxy")
    assert code == 2 and "experiment exp2 wants the Consul lock" in err and "runs no consul-lock job" in err


def test_dry_run_refuses_an_unknown_instance_group(tmp_path: Path) -> None:
    definition = tmp_path / "deploy-galera.yml"
    definition.write_text(yaml.safe_dump({"name": "deploy-galera", "topology": {"lock": True}, "workload": {},
                                          "faults": [{"id": "d", "action": "rolling_deploy", "groups": ["galera"],
                                                      "at": {"inserted": 10}}]}))
    code, _, err = run_task("experiment.run", str(definition), "--target", "bosh", "--dry-run")
    assert code == 2
    assert ("unknown instance group 'galera' in deployment cf-mysql-consul; "
            "known: consul, mysql, arbitrator, proxy") in err


def test_dry_run_refuses_an_unknown_instance(tmp_path: Path) -> None:
    definition = tmp_path / "kill-mysql-7.yml"
    definition.write_text(yaml.safe_dump({"name": "x", "workload": {}, "faults": [
        {"id": "k", "action": "kill", "target": "mysql/7", "at": {"inserted": 10}}]}))
    code, _, err = run_task("experiment.run", str(definition), "--target", "bosh", "--dry-run")
    assert code == 2 and "unknown instance 'mysql/7'" in err and "mysql/1" in err


# ---- errors of a real run -------------------------------------------------------------------------

def test_without_the_bosh_cli_it_exits_2_and_says_what_is_needed() -> None:
    code, _, err = run_task("experiment.run", "exp2", "--target", "bosh")
    assert code == 2
    assert "needs the bosh CLI on PATH" in err and "./inv bosh.deploy" in err and "--dry-run" in err
    assert "not implemented" not in err


def test_a_deployment_with_a_group_the_manifest_lacks_is_refused(fake_bosh: FakeBosh, vars_store: Path) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    fake_bosh.queue(instances_json(ips={**IPS, "proxy-unregistered/0": "127.0.77.6"}))
    code, _, err = run_task("experiment.run", "exp2", "--target", "bosh", "--vars-store", str(vars_store))
    assert code == 2
    assert "bosh instances lists instance group 'proxy-unregistered'" in err and "--ops" in err
    assert fake_bosh.calls() == [[*ARGV, "instances", "--ps", "--details", "--json"]]


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("- a\n- b\n", "a vars store is a YAML mapping of variable names to values, got list"),
    ("key: [unclosed\n", "not valid YAML"),
    ("proxy_api_password: x\n", "Expected to find variables: cf_mysql_mysql_admin_password"),
])
def test_a_bad_vars_store_is_named_with_the_fix(fake_bosh: FakeBosh, tmp_path: Path, content: str | None,
                                                message: str) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    path = tmp_path / "store.yml"
    if content is not None:
        path.write_text(content)
    code, _, err = run_task("experiment.run", "exp2", "--target", "bosh", "--vars-store", str(path))
    assert code == 2
    assert f"--vars-store {path}" in err and message in err and "./inv bosh.deploy" in err
    assert fake_bosh.calls() == []  # checked before anything talks to the director


def test_load_vars_store_reads_a_mapping(vars_store: Path) -> None:
    assert load_vars_store(vars_store)["proxy_api_password"] == "api-pw"


# ---- parsing bosh instances --json ---------------------------------------------------------------

def test_parse_instances_reads_vm_and_process_rows() -> None:
    listed = parse_instances(instances_json({"mysql/1:mariadb_ctrl": "stopped"}))
    assert [i.name for i in listed] == ["arbitrator/0", "consul/0", "mysql/0", "mysql/1", "proxy/0", "proxy/1"]
    mysql1 = next(i for i in listed if i.name == "mysql/1")
    assert mysql1.id == "10e3c1d2-6f7a-4b8c-9d0e-111111111111" and mysql1.ips == ("127.0.77.2",)
    assert mysql1.process_state == "failing"
    assert mysql1.processes == {"mariadb_ctrl": "stopped", "galera-healthcheck": "running", "consul_agent": "running"}


def test_parse_instances_keeps_every_ip_of_a_multi_homed_vm() -> None:
    doc = {"Tables": [{"Rows": [{"instance": "proxy/abc", "process": "", "process_state": "running",
                                 "ips": "10.244.0.4\n10.244.1.4", "index": "3"}]}]}
    (vm,) = parse_instances(json.dumps(doc))
    assert (vm.name, vm.ips, vm.processes) == ("proxy/3", ("10.244.0.4", "10.244.1.4"), {})


@pytest.mark.parametrize(("text", "message"), [
    ("Deployment 'x' not found", "did not print JSON"),
    (json.dumps({"Tables": None, "Lines": ["Deployment 'nope' doesn't exist"]}), "Deployment 'nope' doesn't exist"),
    (json.dumps({"Tables": [{"Rows": [{"instance": "mysql", "process": ""}]}]}), "Rows[0].instance is 'mysql'"),
    (json.dumps({"Tables": [{"Rows": [{"instance": "mysql/abc", "process": "", "ips": "10.0.0.1"}]}]}),
     "Rows[0].index of mysql/abc is 'missing'; list the instances with --details"),
])
def test_parse_instances_errors_name_the_field(text: str, message: str) -> None:
    with pytest.raises(BoshTargetError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_instances(text)


def test_every_pkill_pattern_is_safe_in_double_quotes_and_never_matches_itself() -> None:
    for p in PROCESSES:
        assert p.pattern.startswith(f"[{p.pattern[1]}]"), p
        assert not set(p.pattern) & set('"$`\\!'), p


# ---- the target against the fake bosh and fake proxy APIs ----------------------------------------

def test_connect_builds_the_deployment_from_bosh_and_the_manifest(fake_bosh: FakeBosh, tmp_path: Path,
                                                                  vars_store: Path) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    target = connect(tmp_path, vars_store)
    assert [(i.name, i.address) for i in target.deployment.instances] == list(IPS.items())
    assert access.mysql_admin(target.deployment) == ("root", "admin-pw")  # from the vars store
    assert [r.key for r in target.records(target.instance("proxy/1"))] == [
        "consul_agent.consul", "proxy.proxy", "consul-lock.consul-lock"]


def test_an_errand_vm_kept_alive_is_not_part_of_the_experiment(fake_bosh: FakeBosh, tmp_path: Path,
                                                                vars_store: Path) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    fake_bosh.queue(instances_json(ips={**IPS, "benchmark-bbs/0": "127.0.77.20"}))
    target = connect(tmp_path, vars_store)
    assert "benchmark-bbs/0" not in {i.name for i in target.deployment.instances}


def test_a_failing_instance_is_refused_at_connect(fake_bosh: FakeBosh, tmp_path: Path, vars_store: Path) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    fake_bosh.queue(instances_json({"mysql/0:mariadb_ctrl": "failing"}))
    with pytest.raises(BoshTargetError, match="mysql/0 is failing"):
        connect(tmp_path, vars_store)


def test_master_mysql_is_the_active_proxys_backend(fake_bosh: FakeBosh, tmp_path: Path, vars_store: Path,
                                                   proxy_apis: ProxyApis) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    target = connect(tmp_path, vars_store, proxy_apis.port)
    faults = FaultRunner(target, spec.load("exp3").faults[:1], clock=lambda: 0.0, deploy=rolling_deploy,
                         log=lambda line: None)
    faults.start()
    faults.advance(20000)
    faults.workload_done()
    assert faults.join(timeout=30)
    (record,) = faults.records
    assert record.ok, record.detail
    assert (record.instance, record.process, record.late) == ("mysql/1", "mysql.mariadbd", False)
    assert fake_bosh.calls()[-1] == [*ARGV, "ssh", "mysql/1", "-c", "sudo /var/vcap/bosh/bin/monit unmonitor "
                                     "mariadb_ctrl && sudo pkill -9 -f \"[m]ysqld\""]
    assert target.outstanding.down == {"mysql/1"}


def test_active_proxy_killed_then_started_waits_until_bosh_shows_it_running(
        fake_bosh: FakeBosh, tmp_path: Path, vars_store: Path, proxy_apis: ProxyApis) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    target = connect(tmp_path, vars_store, proxy_apis.port)
    fake_bosh.queue(instances_json({"proxy/1:proxy": "stopped"}), instances_json({"proxy/1:proxy": "starting"}),
                    instances_json())
    faults = FaultRunner(target, spec.load("exp2").faults, clock=lambda: 0.0, deploy=rolling_deploy,
                         log=lambda line: None)
    faults.start()
    faults.advance(20000)
    faults.advance(30000)
    faults.workload_done()
    assert faults.join(timeout=30)
    assert [(r.action, r.instance, r.ok) for r in faults.records] == [("kill", "proxy/1", True),
                                                                      ("start", "proxy/1", True)], faults.records
    instances = [*ARGV, "instances", "--ps", "--details", "--json"]
    assert fake_bosh.calls()[1:] == [
        [*ARGV, "ssh", "proxy/1", "-c", "sudo /var/vcap/bosh/bin/monit unmonitor proxy && "
                                        "sudo pkill -9 -f \"[c]f_mysql_consul.proxy\""],
        [*ARGV, "ssh", "proxy/1", "-c", "sudo /var/vcap/bosh/bin/monit start proxy"],
        instances, instances, instances]  # stopped, starting, running
    assert set(faults.not_serving_windows()) == {"proxy/1"}
    assert not target.outstanding.down


def test_heal_starts_what_a_fault_left_down(fake_bosh: FakeBosh, tmp_path: Path, vars_store: Path) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    target = connect(tmp_path, vars_store)
    target.kill("proxy/0", None)
    target.pause("proxy/1", "consul-lock")
    target.heal()
    assert [c[5:] for c in fake_bosh.calls()[1:]] == [
        ["ssh", "proxy/0", "-c", "sudo /var/vcap/bosh/bin/monit unmonitor all && sudo pkill -9 -f "
                                 "\"[c]onsul agent|[c]f_mysql_consul.proxy|[c]f_mysql_consul.lock\""],
        ["ssh", "proxy/1", "-c", "sudo pkill -STOP -f \"[c]f_mysql_consul.lock\""],
        ["ssh", "proxy/1", "-c", "sudo pkill -CONT -f \"[c]onsul agent|[c]f_mysql_consul.proxy|"
                                 "[c]f_mysql_consul.lock\""],
        ["ssh", "proxy/0", "-c", "sudo /var/vcap/bosh/bin/monit start all"],
        ["instances", "--ps", "--details", "--json"]]
    assert not target.outstanding.down and not target.outstanding.paused


def test_unknown_process_names_the_known_ones(fake_bosh: FakeBosh, tmp_path: Path, vars_store: Path) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    target = connect(tmp_path, vars_store)
    with pytest.raises(BoshTargetError, match=r"proxy/0 has no process 'mariadbd' \(known: consul_agent.consul, "
                                              r"proxy.proxy, consul-lock.consul-lock\)"):
        target.kill("proxy/0", "mariadbd")


def test_rolling_deploy_is_bosh_recreate_of_the_group(fake_bosh: FakeBosh, tmp_path: Path, vars_store: Path) -> None:
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    target = connect(tmp_path, vars_store)
    moved = {**IPS, "mysql/1": "127.0.77.12"}
    fake_bosh.queue(instances_json(ips=moved))
    report = rolling_deploy(target, groups=["mysql"])
    assert report.ok, report.error
    assert report.updated == ["mysql/0", "mysql/1"]
    assert fake_bosh.calls()[1:] == [[*ARGV, "recreate", "mysql"], [*ARGV, "instances", "--ps", "--details", "--json"]]
    assert target.instance("mysql/1").address == "127.0.77.12"  # listed again after the recreate
    bad = rolling_deploy(target, groups=["galera"])
    assert not bad.ok and "unknown instance group 'galera'" in (bad.error or "")


def _event(ts: float, monotonic: float, enabled: bool) -> str:
    stamp = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"ts": stamp, "monotonic": monotonic, "instance": "x", "event": "traffic",
                       "enabled": enabled, "message": "m"}) + "\n"


def test_overlap_audit_reads_the_proxies_logs_through_bosh_ssh(fake_bosh: FakeBosh, tmp_path: Path,
                                                               vars_store: Path) -> None:
    """Each VM has its own monotonic clock: the logs' wall times place the events on this machine's clock.
    By their raw monotonic values the two serving intervals do not intersect; by wall time they do."""
    # FAKE bosh on PATH (fake_bosh): a real BOSH director cannot exist on this machine.
    target = connect(tmp_path, vars_store)
    t0 = time.time() - 60
    events = "/var/vcap/sys/log/proxy/events.jsonl"
    fake_bosh.vm_file("proxy/0", events, _event(t0, 1.0, True) + _event(t0 + 10, 2.0, False))
    fake_bosh.vm_file("proxy/1", events, _event(t0 + 5, 3.0, True) + _event(t0 + 20, 4.0, False))
    check = audit.overlap(target, since=0.0, until=time.monotonic() + 100, not_serving={})
    assert not check.ok
    assert check.detail == "proxy/0 and proxy/1 both served for 5000 ms"
    assert [c[5:8] for c in fake_bosh.calls()[1:]] == [["ssh", "proxy/0", "-r"]] * 2 + [["ssh", "proxy/1", "-r"]] * 2
    local = (tmp_path / "logs" / "proxy-1" / "sys/log/proxy/events.jsonl").read_text().splitlines()
    assert abs(json.loads(local[0])["monotonic"] - (time.monotonic() - 55)) < 5
