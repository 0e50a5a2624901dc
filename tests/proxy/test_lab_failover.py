"""The proxy job on the real lab: failover on SIGKILL / SIGSTOP of the active Galera node,
stickiness, one backend at a time under repeated failovers, lease expiry and ``/health``.

proxy/0 and proxy/1 run from the rendered job with ``start_enabled: false``. These tests need the
lab's consul-lock jobs stopped (they would enable the lock holder) and no proxy serving; each test
enables traffic on proxy/0 only, through its API.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pymysql
import pytest

from cf_mysql_consul_tools.benchmarks.labproxy import LabProxy, galera_settled
from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.lab_state(consul_lock=False)]

NODES = ("mysql/0", "mysql/1")


def node_of(lab: Lab, conn: pymysql.Connection[Any]) -> str:
    """The lab node (``mysql/N``) a connection is talking to, by its bind address."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@bind_address")
        row = cur.fetchone()
    assert row is not None
    return next(n for n in NODES if lab.instance(n).address == row[0])


def node_of_new_connection(lab: Lab, proxy: LabProxy) -> str:
    """Connect through ``proxy`` once and say which node answered."""
    with proxy.connect(read_timeout=10) as conn:
        return node_of(lab, conn)


def other(node: str) -> str:
    return NODES[1 - NODES.index(node)]


LOAD_USER, LOAD_PASSWORD = "proxyload", "proxyload-secret"


def load_sessions_on(lab: Lab, node: str) -> int:
    """Sessions of the client load's user on ``node``, in MariaDB's own view (its processlist)."""
    with lab.mysql(node) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (LOAD_USER,))
        row = cur.fetchone()
    return int(row[0]) if row else 0


def events_since(proxy: LabProxy, count_before: int, kind: str | None = None) -> list[dict[str, Any]]:
    events = proxy.events()[count_before:]
    return [e for e in events if kind is None or e["event"] == kind]


def wait_all_healthy(proxy: LabProxy, timeout: float = 60) -> None:
    """Until the proxy's monitor judges every backend healthy (after rise)."""
    wait_until(
        lambda: all(b["healthy"] for b in proxy.backends()),
        timeout=timeout,
        what=f"{proxy.name} to see every backend healthy",
        describe=lambda: str(proxy.backends()),
    )


def enable_on(proxy: LabProxy, node: str) -> None:
    proxy.enable(preferred=node)
    wait_until(
        lambda: proxy.active() == node and proxy.health_status() == 200,
        timeout=30,
        what=f"{proxy.name} serving through {node}",
        describe=lambda: str(proxy.cluster()),
    )


def assert_no_failback(lab: Lab, proxy: LabProxy, since: int) -> None:
    """Once mysql/0 is back and Synced in the cluster's view, traffic has not moved back to it.

    mysql/1 may drop out for a moment while it donates a state transfer to the rejoining node
    (Donor is unhealthy unless available_when_donor); then the proxy picks afresh, which is not
    a failback. What must never happen is a move from a healthy mysql/1 to mysql/0.
    """
    wait_until(lambda: galera_settled(lab), timeout=180, what="mysql/0 back, Synced in one view of 3")
    wait_all_healthy(proxy)
    switches = events_since(proxy, since, "switch")
    assert not [e for e in switches if (e["previous"], e["active"]) == ("mysql/1", "mysql/0")], switches
    if not [e for e in events_since(proxy, since, "backend_down") if e["backend"] == "mysql/1"]:
        assert switches == []
        assert proxy.active() == "mysql/1"
        assert node_of_new_connection(lab, proxy) == "mysql/1"


@pytest.fixture
def proxy0(lab: Lab) -> LabProxy:
    """proxy/0, with traffic off and every backend healthy (the module's lab state)."""
    return LabProxy.of(lab, "proxy/0")


def test_health_follows_the_active_state_and_the_standby_stays_503(lab: Lab, proxy0: LabProxy) -> None:
    standby = LabProxy.of(lab, "proxy/1")
    assert proxy0.health_status() == 503
    with pytest.raises(pymysql.err.OperationalError) as refused:
        proxy0.connect()
    assert refused.value.args[0] == 1105 and "standby" in refused.value.args[1]

    enable_on(proxy0, "mysql/0")
    assert proxy0.health_status() == 200
    assert proxy0.metrics()["cf_mysql_proxy_serving"] == 1
    assert node_of_new_connection(lab, proxy0) == "mysql/0"
    assert standby.health_status() == 503

    proxy0.disable("health test")
    assert proxy0.health_status() == 503
    assert proxy0.metrics()["cf_mysql_proxy_serving"] == 0


def test_sigkill_of_the_active_node_cuts_its_clients_and_new_ones_reach_the_other_node_for_good(
    lab: Lab, proxy0: LabProxy
) -> None:
    enable_on(proxy0, "mysql/0")
    conns = [proxy0.connect(read_timeout=30) for _ in range(4)]
    assert {node_of(lab, c) for c in conns} == {"mysql/0"}
    before = len(proxy0.events())

    lab.kill("mysql/0", "mysql.mariadbd")
    for conn in conns:
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as lost:
            node_of(lab, conn)
        assert "timed out" not in str(lost.value), "the session hung instead of being cut"
        assert time.monotonic() - started < 30
    wait_until(
        lambda: node_of_new_connection(lab, proxy0) == "mysql/1", timeout=30, what="new clients to reach mysql/1"
    )
    assert proxy0.health_status() == 200
    switch = events_since(proxy0, before, "switch")[-1]
    assert (switch["previous"], switch["active"]) == ("mysql/0", "mysql/1")

    # The old node comes back (and passes its health checks): traffic stays where it is.
    after_failover = len(proxy0.events())
    lab.start("mysql/0")
    assert_no_failback(lab, proxy0, after_failover)


def test_sigstop_of_the_active_node_cuts_hung_sessions_through_the_health_timeout(
    lab: Lab, proxy0: LabProxy
) -> None:
    enable_on(proxy0, "mysql/0")
    idle = [proxy0.connect(read_timeout=60) for _ in range(3)]
    busy = proxy0.connect(read_timeout=60)
    assert {node_of(lab, c) for c in (*idle, busy)} == {"mysql/0"}
    before = len(proxy0.events())

    lab.pause("mysql/0", "mysql.mariadbd")
    paused_at = time.monotonic()
    # This query hangs on the stopped node: only the proxy's sever can end it before 60 s.
    with pytest.raises(pymysql.err.OperationalError) as lost:
        node_of(lab, busy)
    assert "timed out" not in str(lost.value)
    assert time.monotonic() - paused_at < 30
    switch = events_since(proxy0, before, "switch")[-1]
    assert (switch["previous"], switch["active"]) == ("mysql/0", "mysql/1")
    assert switch["severed"] >= len(idle) + 1, switch
    down = events_since(proxy0, before, "backend_down")[-1]
    assert down["backend"] == "mysql/0" and "no answer within" in down["detail"], down
    for conn in idle:  # cut too, though they never sent anything
        with pytest.raises(pymysql.err.OperationalError):
            node_of(lab, conn)
    assert node_of_new_connection(lab, proxy0) == "mysql/1"

    after_failover = len(proxy0.events())
    lab.resume("mysql/0", "mysql.mariadbd")
    assert_no_failback(lab, proxy0, after_failover)


class ClientLoad:
    """A few client threads reading and writing through the proxy, reconnecting on errors.

    Bounded: stops on ``stop()`` or after ``max_seconds``.
    """

    def __init__(self, lab: Lab, proxy: LabProxy, *, threads: int = 3, max_seconds: float = 180) -> None:
        self.lab, self.proxy, self.deadline = lab, proxy, time.monotonic() + max_seconds
        self.done = threading.Event()
        self.ok = 0
        self.errors = 0
        with lab.mysql("mysql/0") as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS proxytest")
            cur.execute("CREATE TABLE IF NOT EXISTS proxytest.load (id INT AUTO_INCREMENT PRIMARY KEY, node TEXT)")
            cur.execute(f"CREATE USER IF NOT EXISTS '{LOAD_USER}'@'%' IDENTIFIED BY '{LOAD_PASSWORD}'")
            cur.execute(f"GRANT ALL ON proxytest.* TO '{LOAD_USER}'@'%'")
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while not self.done.is_set() and time.monotonic() < self.deadline:
            try:
                with (
                    self.proxy.connect(
                        user=LOAD_USER, password=LOAD_PASSWORD, read_timeout=10, write_timeout=10
                    ) as conn,
                    conn.cursor() as cur,
                ):
                    for _ in range(50):
                        if self.done.is_set():
                            return
                        cur.execute("INSERT INTO proxytest.load (node) SELECT @@bind_address")
                        self.ok += 1
                        time.sleep(0.01)
            except pymysql.err.MySQLError:
                self.errors += 1
                time.sleep(0.05)

    def stop(self) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(timeout=30)


class SessionSampler:
    """Samples ``/metrics`` every few ms: backends that had client sessions at the same instant."""

    def __init__(self, proxy: LabProxy) -> None:
        self.proxy = proxy
        self.samples = 0
        self.overlaps: list[dict[str, int]] = []
        self.seen: set[str] = set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.02):
            sessions = self.proxy.backend_sessions()
            busy = {name: n for name, n in sessions.items() if n > 0}
            self.samples += 1
            self.seen |= set(busy)
            if len(busy) > 1:
                self.overlaps.append(busy)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=10)


def load_moved(lab: Lab, proxy: LabProxy, load: ClientLoad, *, old: str) -> str:
    """Wait until ``proxy`` switched away from ``old`` and the load writes through the other node."""
    new = other(old)
    wait_until(lambda: proxy.active() == new, timeout=30, what=f"a switch to {new}")
    # MySQL's own view: the old node loses every session from the proxy, the new one gains them.
    if lab.is_running(old, "mysql.mariadbd"):
        wait_until(lambda: load_sessions_on(lab, old) == 0, timeout=15, what=f"{old} to lose the load's sessions")
    wait_until(lambda: load_sessions_on(lab, new) > 0, timeout=30, what=f"the load to reach {new}")
    ok_before = load.ok
    wait_until(lambda: load.ok >= ok_before + 10, timeout=30, what=f"writes through {new}")
    return new


def test_client_sessions_never_span_two_backends_over_repeated_failovers(lab: Lab, proxy0: LabProxy) -> None:
    enable_on(proxy0, "mysql/0")
    before = len(proxy0.events())
    load = ClientLoad(lab, proxy0)
    sampler = SessionSampler(proxy0)
    try:
        wait_until(lambda: load_sessions_on(lab, "mysql/0") > 0, timeout=30, what="client load on mysql/0")
        active = "mysql/0"
        for _ in range(3):  # switches requested through the API (as a proxy handover does)
            proxy0.patch(preferredBackend=other(active))
            active = load_moved(lab, proxy0, load, old=active)
        lab.kill(active, "mysql.mariadbd")  # and one real fault
        load_moved(lab, proxy0, load, old=active)
    finally:
        sampler.stop()
        load.stop()

    assert sampler.overlaps == [], f"sessions on two backends at once: {sampler.overlaps[:5]}"
    assert sampler.samples > 50 and sampler.seen == set(NODES)
    switches = events_since(proxy0, before, "switch")
    assert len(switches) >= 4
    for event in switches:  # right after each switch, sessions exist on the new backend at most
        assert set(event["sessions"]) <= {event["active"]}, event
    assert sum(e["severed"] for e in switches) > 0


def test_an_unrenewed_lease_turns_traffic_off_and_cuts_sessions(lab: Lab, proxy0: LabProxy) -> None:
    before = len(proxy0.events())
    enabled_at = time.monotonic()
    proxy0.enable(preferred="mysql/0", lease_seconds=2)
    conn = proxy0.connect(read_timeout=30)
    assert node_of(lab, conn) == "mysql/0"
    assert proxy0.health_status() == 200
    assert 0 < proxy0.cluster()["leaseSecondsRemaining"] <= 2

    wait_until(lambda: not proxy0.cluster()["trafficEnabled"], timeout=20, what="the lease to expire")
    assert time.monotonic() - enabled_at >= 2
    assert proxy0.health_status() == 503
    with pytest.raises(pymysql.err.OperationalError):
        node_of(lab, conn)
    with pytest.raises(pymysql.err.OperationalError) as refused:
        proxy0.connect()
    assert refused.value.args[0] == 1105 and "lease of 2 s expired" in refused.value.args[1]
    off = events_since(proxy0, before, "traffic")[-1]
    assert off["enabled"] is False and off["severed"] >= 1 and "lease" in off["reason"], off
