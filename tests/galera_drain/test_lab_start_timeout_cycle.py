"""The A side's failure mode on the shared lab, bounded: cf-mysql's start timeout cycles a joining node.

mysql/1's mariadbd is replaced by cf-mysql-release v26's start (``mysql_ctl``) with
``database_startup_timeout`` 10: mariadb_ctrl tries once (round(0.8 x 10) / 5 = 1 try) and gives
up 5 s after starting mysqld, shorter than any rejoin here under a steady write load to mysql/0
(an IST takes ~5 s on this machine: mariadbd start, group join, the SST script's IST
handshake). The timeout stops mariadbd half-way through its join; that leaves the datadir
without a usable Galera state (grastate seqno -1), so every later attempt needs a full SST,
which is cut again; monit gives up after round(0.9 x 10) = 9 s and starts it again on its next
cycle: the node never becomes reachable (asserted: timeouts, monit's "failed to start", a new
mariadbd each time, never running). This is the cause the galera-drain pre-start removes (it
joins outside that timeout); bench.deploy shows the whole A/B. The next test's ``lab`` brings
mysql/1 back (an SST, with the lab's own start).
"""

from __future__ import annotations

import itertools
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
        "bootstrap_arg": None, "socket": MySQLStandIn.SOCKET, "database_startup_timeout": 10,
        "events_path": "/var/vcap/sys/log/mysql/cycle-test.events.jsonl",
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
        assert not any(e["event"] == "running" for e in seen), seen
        assert len({e["pid"] for e in seen if e["event"] == "start"}) >= 3, "each cycle is a new mariadbd"
        assert sum(e["event"] == "failed to start" for e in seen) >= 2, seen
        starts = [e["ts"] for e in seen if e["event"] == "start"]
        # monit: no new attempt before its 9 s start timeout and its 10 s cycle have passed
        assert all(b - a >= 9 + 10 - 0.5 for a, b in itertools.pairwise(starts)), starts
    finally:
        lab.stop("mysql/1", "mysql.mariadbd")
        load.stop()
