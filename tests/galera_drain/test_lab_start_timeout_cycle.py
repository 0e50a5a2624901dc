"""The A side's failure mode on the shared lab, bounded: cf-mysql's start timeout cycles a joining node.

mysql/1's mariadbd is replaced by the cf-mysql start behaviour (``mysql_ctl``) with a start
timeout shorter than any rejoin here (an IST takes ~5 s on this machine: mariadbd start, group
join, the SST script's IST handshake), under a steady write load to mysql/0. The timeout stops
mariadbd half-way through its join; that leaves the datadir without a usable Galera state
(grastate seqno -1), so every later attempt needs a full SST, which is cut again: the node never
becomes Synced (asserted: timeouts, a new mariadbd each time, never Synced). This is the cause
the galera-drain pre-start removes (it joins outside that timeout); bench.deploy shows the whole
A/B. The next test's ``lab`` brings mysql/1 back (an SST, with the lab's own start).
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from cf_mysql_consul.proxy.events import read_events
from cf_mysql_consul_tools.benchmarks.writeload import WriteLoad
from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab import processes as procs
from cf_mysql_consul_tools.lab.standins import MySQLStandIn
from cf_mysql_consul_tools.lab.waiting import wait_until

pytestmark = pytest.mark.integration


def test_a_start_timeout_shorter_than_the_join_cycles_the_node(lab: Lab) -> None:
    inst = lab.instance("mysql/1")
    root = lab.instance_dir(inst)
    events = root / "sys/log/mysql/cycle-test.events.jsonl"
    events.unlink(missing_ok=True)
    (root / "jobs/mysql/config/cycle-test.json").write_text(json.dumps({
        "mariadbd_argv": ["/usr/sbin/mariadbd", f"--defaults-file={MySQLStandIn.CONFIG}"],
        "bootstrap_arg": None, "socket": MySQLStandIn.SOCKET, "start_timeout_seconds": 2.0,
        "retry_delay_seconds": 1.0, "events_path": "/var/vcap/sys/log/mysql/cycle-test.events.jsonl",
        "stop_grace_seconds": 5.0,  # a mariadbd stopped mid-SST takes ~50 s to exit: SIGKILL sooner, test bounded
    }))
    load = WriteLoad(lab, writers=4, rate=300, targets=[lab.instance("mysql/0").address])
    load.start()
    try:
        wait_until(lambda: len(load.result.acked) > 100, timeout=30, what="the write load to run")
        lab.stop("mysql/1", "mysql.mariadbd")
        time.sleep(3)  # the cluster writes on while mysql/1 is down: it has something to catch up on
        ctl = ("-m", "cf_mysql_consul_tools.lab.mysql_ctl", "/var/vcap/jobs/mysql/config/cycle-test.json")
        spec = procs.ProcessSpec(job="mysql", name="mariadbd", executable=sys.executable, args=ctl)
        lab.table(inst).put(procs.spawn(root, spec, root / "sys/log/mysql"))
        wait_until(lambda: sum(e["event"] == "timeout" for e in read_events(events)) >= 3, timeout=150, interval=1,
                   what="three start timeouts")
        seen = read_events(events)
        assert not any(e["event"] == "synced" for e in seen), seen
        assert len({e["pid"] for e in seen if e["event"] == "start"}) >= 3, "each cycle is a new mariadbd"
    finally:
        lab.stop("mysql/1", "mysql.mariadbd")
        load.stop()
