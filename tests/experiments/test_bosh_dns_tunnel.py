"""``--target bosh`` resolves the service the way the VMs do: through a ``bosh ssh -L`` tunnel to the
Consul server instance's own agent DNS (127.0.0.1:53 there), asked over TCP.

No director can exist here, so a FAKE ``bosh`` stands in for ``bosh ssh``: it reads the local port
from the ``-L`` option it is given and forwards it (socat) to a real Consul 1.8.7 agent in dev
mode on 127.0.52.250, which plays the VM's agent (on 8600 there: port 53 needs root and would
collide). The agent answers a real registration; the test checks what comes back through the
tunnel, and that closing the target ends the tunnel.
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cf_mysql_consul_tools.experiments.bosh_target import BoshSettings, BoshTarget, load_deployment
from cf_mysql_consul_tools.experiments.topology import service_dns_name
from cf_mysql_consul_tools.lab.standins import CONSUL_BIN
from cf_mysql_consul_tools.lab.waiting import wait_until
from cf_mysql_consul_tools.release.boshcli import BoshCli
from tests.invoke_tasks import REPO

pytestmark = pytest.mark.integration
AGENT = "127.0.52.250"


@pytest.fixture
def consul_agent(tmp_path: Path) -> Iterator[str]:
    """A real Consul dev agent with the service ``mysql`` registered at 127.0.52.251:3306."""
    proc = subprocess.Popen([str(CONSUL_BIN), "agent", "-dev", f"-bind={AGENT}", f"-client={AGENT}",
                             f"-data-dir={tmp_path / 'consul'}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        api = f"http://{AGENT}:8500/v1"
        wait_until(lambda: requests.get(f"{api}/status/leader", timeout=1).json(), timeout=30,
                   what="the dev agent to elect itself")
        requests.put(f"{api}/agent/service/register", timeout=5,
                     json={"Name": "mysql", "Address": "127.0.52.251", "Port": 3306}).raise_for_status()
        yield f"{AGENT}:8600"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def fake_bosh(tmp_path: Path, agent_dns: str) -> Path:
    """``bosh ... ssh INSTANCE --opts=-N --opts=-L127.0.0.1:PORT:127.0.0.1:53``: forward PORT to the agent."""
    script = tmp_path / "bosh"
    host, port = agent_dns.split(":")
    script.write_text(f"""#!/bin/bash
printf '%s\\n' "$@" > {tmp_path / 'argv'}
for a in "$@"; do case "$a" in --opts=-L*) spec="${{a#--opts=-L}}";; esac; done
local_port=$(echo "$spec" | cut -d: -f2)
exec socat TCP-LISTEN:$local_port,bind=127.0.0.1,reuseaddr,fork TCP:{host}:{port}
""")
    script.chmod(0o755)
    return script


def test_the_service_resolves_through_the_tunnel_to_the_vms_agent(tmp_path: Path, consul_agent: str) -> None:
    settings = BoshSettings(manifest=REPO / "manifests" / "cf-mysql-consul.yml", vars_store=tmp_path / "vars.yml")
    deployment = load_deployment(settings, None)  # the manifest as a dry run sees it: no vars store needed
    cli = BoshCli(executable=str(fake_bosh(tmp_path, consul_agent)), echo=lambda _line: None)
    target = BoshTarget(settings, cli, deployment, manifest=deployment, logs_dir=tmp_path / "logs",
                        log=lambda _line: None)
    name = service_dns_name(deployment)
    assert name == "mysql.service.consul"  # consul-lock's consul_domain, as the manifest sets it
    try:
        resolver = target.service_resolver(name)
        assert resolver.candidates() == [("127.0.52.251", 3306)]
        assert "/tcp" in resolver.describe()
        argv = (tmp_path / "argv").read_text().splitlines()
        assert argv[:6] == ["-e", "vbox", "-d", "cf-mysql-consul", "-n", "ssh"] and argv[6] == "consul/0"
        assert re.fullmatch(r"--opts=-L127\.0\.0\.1:\d+:127\.0\.0\.1:53", argv[8]), argv
    finally:
        target.close()
    port = int(argv[8].split(":")[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
