"""Traffic control, failover and the API, through a real proxy process and real MariaDB."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest

from .conftest import (
    API_PASSWORD,
    APP_PASSWORD,
    APP_USER,
    HealthStandIn,
    MariaDB,
    Proxy,
    ProxyFactory,
    backends_of,
    server_port,
    wait_until,
)

pytestmark = pytest.mark.integration


def is_severed(conn: pymysql.connections.Connection) -> bool:  # type: ignore[type-arg]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except pymysql.err.OperationalError:
        return True
    return False


def test_standby_answers_with_reason(start_proxy: ProxyFactory, mariadbs: list[MariaDB]) -> None:
    proxy = start_proxy(backends_of(mariadbs), start_enabled=False)
    assert proxy.patch(trafficEnabled=False, message="by consul-lock")[0] == 200
    with pytest.raises(pymysql.err.OperationalError) as info:
        proxy.connect()
    assert info.value.args == (1105, "proxy/0 is standby: traffic disabled: by consul-lock")
    cli = subprocess.run(
        [
            "mariadb",
            "--skip-ssl",
            "-h",
            proxy.host,
            "-P",
            str(proxy.port),
            "-u",
            APP_USER,
            f"-p{APP_PASSWORD}",
            "-e",
            "SELECT 1",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert "ERROR 1105 (HY000): proxy/0 is standby: traffic disabled: by consul-lock" in cli.stderr
    assert proxy.http("GET", "/health", auth=None, health=True)[0] == 503


def test_lease_expiry_severs_and_health_follows(start_proxy: ProxyFactory, mariadbs: list[MariaDB]) -> None:
    proxy = start_proxy(backends_of(mariadbs), start_enabled=False)
    status, body = proxy.patch(trafficEnabled=True, leaseSeconds=1.5, message="lock held")
    assert status == 200 and body["trafficEnabled"] and body["leaseSecondsRemaining"] > 1
    wait_until(lambda: proxy.http("GET", "/health", auth=None, health=True)[0] == 200, 5, "/health 200")
    conn = proxy.connect()
    assert not is_severed(conn)
    enabled_at = time.monotonic()
    wait_until(lambda: not proxy.cluster()["trafficEnabled"], 5, "the lease to expire")
    assert 1.2 < time.monotonic() - enabled_at < 3.0
    assert is_severed(conn)
    assert proxy.http("GET", "/health", auth=None, health=True)[0] == 503
    off = [e for e in proxy.events() if e["event"] == "traffic" and not e["enabled"]]
    assert off[-1]["severed"] == 1 and "lease of 1.5 s expired" in off[-1]["reason"]
    assert proxy.metric("cf_mysql_proxy_connections_severed_total") == 1


def test_failover_severs_and_stays_sticky(
    proxy: Proxy, mariadbs: list[MariaDB], health_stand_in: HealthStandIn
) -> None:
    conn = proxy.connect()
    assert server_port(proxy) == mariadbs[0].port
    health_stand_in.set(mariadbs[0].host, "down")
    wait_until(lambda: proxy.cluster()["activeBackend"]["name"] == "mysql/1", 5, "failover to mysql/1")
    assert is_severed(conn)
    assert server_port(proxy) == mariadbs[1].port
    health_stand_in.set(mariadbs[0].host, "synced")
    wait_until(lambda: proxy.http("GET", "/v0/backends")[1][0]["healthy"], 5, "mysql/0 healthy again")
    time.sleep(0.5)  # several health intervals: traffic must NOT move back
    assert server_port(proxy) == mariadbs[1].port
    switch = [e for e in proxy.events() if e["event"] == "switch" and e["previous"] == "mysql/0"]
    assert switch[0]["severed"] == 1 and switch[0]["sessions"] == {}
    assert proxy.metric("cf_mysql_proxy_failovers_total") == 1


def test_hung_backend_fails_through_timeout(
    proxy: Proxy, mariadbs: list[MariaDB], health_stand_in: HealthStandIn
) -> None:
    """The stand-in holds the request unanswered, as a SIGSTOPped node's healthcheck would."""
    health_stand_in.set(mariadbs[0].host, "hang")
    hung_at = time.monotonic()
    wait_until(lambda: proxy.cluster()["activeBackend"]["name"] == "mysql/1", 5, "failover from the hung node")
    assert time.monotonic() - hung_at < 0.5 + 0.1 + 0.5  # timeout + interval + slack
    backends = proxy.http("GET", "/v0/backends")[1]
    assert "no answer within 500 ms" in backends[0]["healthDetail"]


def test_preferred_backend_moves_once(proxy: Proxy, mariadbs: list[MariaDB]) -> None:
    assert proxy.patch(preferredBackend="mysql/1")[0] == 200
    wait_until(lambda: proxy.cluster()["activeBackend"]["name"] == "mysql/1", 5, "the preferred backend")
    assert proxy.cluster()["preferredBackend"] is None  # consumed
    assert server_port(proxy) == mariadbs[1].port


def test_api_auth_shapes_and_errors(proxy: Proxy) -> None:
    assert proxy.http("GET", "/v0/cluster", auth=None)[0] == 401
    assert proxy.http("GET", "/v0/backends", auth=("admin", "wrong"))[0] == 401
    status, backends = proxy.http("GET", "/v0/backends")
    assert status == 200
    assert {"host", "port", "healthy", "name", "currentSessionCount", "active", "trafficEnabled"} <= set(backends[0])
    assert [b["active"] for b in backends] == [True, False]
    cluster = proxy.cluster()
    assert {"activeBackend", "trafficEnabled", "message", "lastUpdated"} <= set(cluster)
    for body, field in (
        (b"trafficEnabled=maybe", "trafficEnabled"),
        (b"leaseSeconds=-1", "leaseSeconds"),
        (b"preferredBackend=mysql/7", "preferredBackend"),
        (b"color=red", "color"),
    ):
        status, error = proxy.http("PATCH", "/v0/cluster", body=body, content_type="application/x-www-form-urlencoded")
        assert status == 400 and field in error["error"], (body, error)
    status, body = proxy.http(
        "PATCH",
        "/v0/cluster",
        body=b"trafficEnabled=false&message=maintenance",
        content_type="application/x-www-form-urlencoded",
    )
    assert status == 200 and body["trafficEnabled"] is False and body["message"] == "maintenance"
    metrics = proxy.http("GET", "/metrics")[1]
    for name in (
        "connections_open",
        "connections_total",
        "connections_severed_total",
        "bytes_total",
        "backend_healthy",
        "backend_active",
        "failovers_total",
        "traffic_enabled",
    ):
        assert f"# TYPE cf_mysql_proxy_{name} " in metrics
    assert proxy.http("GET", "/live", auth=None, health=True)[0] == 200


def test_dashboard_in_headless_chromium(proxy: Proxy, tmp_path: Path) -> None:
    conn = proxy.connect()
    url = f"http://admin:{API_PASSWORD}@{proxy.host}:{proxy.config['api_port']}/"
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    conn.close()
    assert 'data-name="mysql/0"' in dom and 'data-name="mysql/1"' in dom
    assert '<td class="sessions">1</td>' in dom and "Traffic: <b>enabled</b>" in dom


def test_max_connections_refusal(start_proxy: ProxyFactory, mariadbs: list[MariaDB]) -> None:
    proxy = start_proxy(backends_of(mariadbs), max_connections=3)
    wait_until(lambda: proxy.cluster()["activeBackend"], 10, "an active backend")
    held = [proxy.connect() for _ in range(3)]
    with pytest.raises(pymysql.err.OperationalError) as info:
        proxy.connect()
    assert info.value.args[0] == 1040 and "too many connections through this proxy" in info.value.args[1]
    held.pop().close()
    wait_until(lambda: proxy.connect(), 5, "a free slot")


def test_garbage_and_half_open_affect_only_their_connection(proxy: Proxy) -> None:
    good = proxy.connect()
    garbage = socket.create_connection((proxy.host, proxy.port))
    garbage.sendall(b"\x00\xff GET / HTTP/1.1\r\n\r\n" * 100)
    half = socket.create_connection((proxy.host, proxy.port))
    half.shutdown(socket.SHUT_WR)
    silent = socket.create_connection((proxy.host, proxy.port))  # connects and never speaks
    half.settimeout(5)
    while half.recv(65536):
        pass  # the proxy closes the half-closed client (its EOF ends the session)
    garbage.settimeout(5)
    while garbage.recv(65536):
        pass  # the backend rejects the garbage and the proxy closes this connection only
    assert not is_severed(good)
    assert server_port(proxy) > 0
    for sock in (garbage, half, silent):
        sock.close()


def test_sigterm_drains_then_severs(start_proxy: ProxyFactory, mariadbs: list[MariaDB]) -> None:
    proxy = start_proxy(backends_of(mariadbs), shutdown_delay=1)
    wait_until(lambda: proxy.cluster()["activeBackend"], 10, "an active backend")
    conn = proxy.connect()
    started = time.monotonic()
    assert proxy.stop() == 0
    assert 0.9 < time.monotonic() - started < 5
    assert is_severed(conn)
    events = [e["event"] for e in proxy.events()]
    assert events[-3:] == ["stopping", "sever", "stopped"]


def test_drain_script_prints_one_integer(start_proxy: ProxyFactory, mariadbs: list[MariaDB]) -> None:
    proxy = start_proxy(backends_of(mariadbs), shutdown_delay=2)
    wait_until(lambda: proxy.cluster()["activeBackend"], 10, "an active backend")
    conn = proxy.connect()
    started = time.monotonic()
    drain = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cf_mysql_consul.proxy.drain",
            "--config",
            str(proxy.config_path),
            "job_shutdown",
            "hash_unchanged",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: proxy.cluster()["draining"], 5, "the proxy to drain")
    with pytest.raises(pymysql.err.OperationalError, match="shutting down"):
        proxy.connect()
    assert proxy.patch(trafficEnabled=True)[0] == 409
    conn.close()
    out, err = drain.communicate(timeout=10)
    assert out == "0\n", err
    assert "drained: no sessions left" in err and time.monotonic() - started < 2


def test_post_start(start_proxy: ProxyFactory, mariadbs: list[MariaDB], tmp_path: Path) -> None:
    proxy = start_proxy(backends_of(mariadbs))
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "cf_mysql_consul.proxy.post_start",
            "--config",
            str(proxy.config_path),
            "--timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok.returncode == 0 and "API answers" in ok.stdout
    proxy.stop()
    failed = subprocess.run(
        [
            sys.executable,
            "-m",
            "cf_mysql_consul.proxy.post_start",
            "--config",
            str(proxy.config_path),
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert failed.returncode == 1 and "did not answer within 1 s" in failed.stderr


def test_sql_strategy_reads_wsrep_status(start_proxy: ProxyFactory, mariadbs: list[MariaDB]) -> None:
    """The sql probe logs in for real; a single non-Galera node has no wsrep status, so it is unhealthy."""
    proxy = start_proxy(
        backends_of(mariadbs), health_strategy="sql", monitor_user=APP_USER, monitor_password=APP_PASSWORD
    )
    wait_until(lambda: proxy.http("GET", "/v0/backends")[1][0]["healthDetail"] != "not polled yet", 5, "a poll")
    backends = proxy.http("GET", "/v0/backends")[1]
    assert [b["healthDetail"] for b in backends] == ["no wsrep status (not a Galera node?)"] * 2
    assert proxy.cluster()["activeBackend"] is None
    with pytest.raises(pymysql.err.OperationalError, match="has no healthy backend"):
        proxy.connect()


def test_resumed_proxy_relays_nothing_past_its_lease(start_proxy: ProxyFactory, mariadbs: list[MariaDB]) -> None:
    """A proxy SIGSTOPped while enabled, and resumed after its lease ran out, must not relay the
    statement a client sent while it was stopped. Whichever runs first on resume, the lease timer
    or the client's readable socket (the relay checks the lease on every client chunk), the
    statement must not reach the backend."""
    proxy = start_proxy(backends_of(mariadbs), start_enabled=False)
    backend = mariadbs[0]
    with backend.connect(autocommit=True) as admin, admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE IF NOT EXISTS fence")
        cursor.execute("CREATE TABLE IF NOT EXISTS fence.t (id INT PRIMARY KEY)")
        cursor.execute("DELETE FROM fence.t")
    assert proxy.patch(trafficEnabled=True, leaseSeconds=1.0, preferredBackend=backend.name)[0] == 200
    wait_until(lambda: proxy.http("GET", "/health", auth=None, health=True)[0] == 200, 5, "/health 200")
    client = proxy.connect(autocommit=True, read_timeout=10)
    outcome: list[BaseException | None] = []

    def insert() -> None:
        try:
            with client.cursor() as cursor:
                cursor.execute("INSERT INTO fence.t VALUES (1)")
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    proxy.process.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: Path(f"/proc/{proxy.process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T",
                   5, "the proxy to be stopped")
        writer = threading.Thread(target=insert)
        writer.start()
        time.sleep(1.5)  # the fault itself: the lease runs out while the proxy cannot run
    finally:
        proxy.process.send_signal(signal.SIGCONT)
    writer.join(timeout=15)
    assert outcome and isinstance(outcome[0], pymysql.err.OperationalError)
    with backend.connect(autocommit=True) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM fence.t")
        assert cursor.fetchone() == (0,)
    assert not proxy.cluster()["trafficEnabled"]


def test_an_enable_delivered_after_its_lease_ended_is_refused(start_proxy: ProxyFactory,
                                                               mariadbs: list[MariaDB]) -> None:
    """The lock job's PATCH can sit in a stopped proxy's socket buffer; on resume the proxy must not
    start a lease the sender has already written off (another proxy may hold the lock by then)."""
    proxy = start_proxy(backends_of(mariadbs), start_enabled=False)
    status, body = proxy.patch(trafficEnabled=True, leaseSeconds=30, leaseUntilMonotonic=time.monotonic() + 1.0)
    assert status == 200 and 0 < body["leaseSecondsRemaining"] <= 1.0  # capped at the sender's end
    wait_until(lambda: not proxy.cluster()["trafficEnabled"], 5, "the capped lease to end")
    status, body = proxy.patch(trafficEnabled=True, leaseSeconds=2, leaseUntilMonotonic=time.monotonic() + 3600)
    assert status == 400 and "same host" in body["error"]

    replies: list[tuple[int, Any]] = []
    proxy.process.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: Path(f"/proc/{proxy.process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T",
                   5, "the proxy to be stopped")
        sender = threading.Thread(target=lambda: replies.append(proxy.patch(
            trafficEnabled=True, leaseSeconds=2, leaseUntilMonotonic=time.monotonic() + 0.5)))
        sender.start()
        time.sleep(1.0)  # the fault itself: the sender's lease ends while the proxy cannot run
    finally:
        proxy.process.send_signal(signal.SIGCONT)
    sender.join(timeout=15)
    assert replies and replies[0][0] == 409 and "arrived after the lease" in replies[0][1]["error"]
    cluster = proxy.cluster()
    assert not cluster["trafficEnabled"]
    with pytest.raises(pymysql.err.OperationalError):
        proxy.connect()
