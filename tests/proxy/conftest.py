"""Fixtures for proxy socket tests: two real single-node MariaDB servers, a stand-in for
galera-healthcheck, and the proxy itself started as a subprocess from a config file.

A single MariaDB node has no wsrep state, so ``HealthStandIn`` answers galera-healthcheck's
``/api/v1/status`` for each backend address; tests flip it (synced / down / hang) to drive the
proxy's monitor. Everything binds to 127.0.30.x with free ports.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest

from cf_mysql_consul.proxy.events import read_events

DB_HOSTS = ("127.0.30.1", "127.0.30.2")
PROXY_HOST = "127.0.30.10"
APP_USER, APP_PASSWORD = "app", "app-secret"
API_USER, API_PASSWORD = "admin", "api-secret"


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns a truthy value; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # conditions may fail while the system settles
            last_error = exc
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last error: {last_error!r})")


def free_port(*hosts: str) -> int:
    """A TCP port that is currently free on every one of ``hosts``."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for host in hosts[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no common free port on {hosts}")


@dataclass
class MariaDB:
    """A running single-node mariadbd."""

    name: str
    host: str
    port: int
    datadir: Path
    process: subprocess.Popen[bytes]

    def connect(self, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(host=self.host, port=self.port, user=APP_USER, password=APP_PASSWORD, **kwargs)


def _start_mariadb(name: str, host: str, base: Path) -> MariaDB:
    datadir = base / name.replace("/", "-")
    datadir.mkdir(parents=True)
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--user=root",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port(host)
    process = subprocess.Popen(
        [
            "mariadbd",
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            f"--bind-address={host}",
            f"--port={port}",
            f"--socket={datadir}/mysqld.sock",
            f"--pid-file={datadir}/mysqld.pid",
            f"--log-error={datadir}/error.log",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--max-connections=3000",
            "--max-allowed-packet=64M",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=32M",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return MariaDB(name, host, port, datadir, process)


def _ready(db: MariaDB) -> bool:
    if db.process.poll() is not None:
        raise RuntimeError(f"mariadbd {db.name} exited: {(db.datadir / 'error.log').read_text()[-2000:]}")
    conn = pymysql.connect(unix_socket=str(db.datadir / "mysqld.sock"), user="root", connect_timeout=2)
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'")
        cursor.execute(f"GRANT ALL ON *.* TO '{APP_USER}'@'%'")
        cursor.execute("CREATE DATABASE IF NOT EXISTS proxytest")
    conn.close()
    return True


@pytest.fixture(scope="session")
def mariadbs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[MariaDB]]:
    """Two real MariaDB servers (``mysql/0``, ``mysql/1``) on 127.0.30.1 and .2; stopped by PID."""
    if shutil.which("mariadbd") is None:
        pytest.skip("mariadbd is not installed (./inv bootstrap installs mariadb-server)")
    base = tmp_path_factory.mktemp("mariadb")
    dbs: list[MariaDB] = []
    try:
        for i, host in enumerate(DB_HOSTS):
            dbs.append(_start_mariadb(f"mysql/{i}", host, base))
        for db in dbs:
            wait_until(lambda db=db: _ready(db), 60, f"{db.name} to accept connections")  # type: ignore[misc]
        yield dbs
    finally:
        for db in dbs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(db.process.pid, signal.SIGCONT)
                db.process.terminate()
        for db in dbs:
            try:
                db.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                db.process.kill()
                db.process.wait()


class HealthStandIn:
    """Handle on the galera-healthcheck stand-in process (``health_stand_in.py``)."""

    def __init__(self, hosts: tuple[str, ...]) -> None:
        self.port = free_port(*hosts)
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("health_stand_in.py")), str(self.port), *hosts],
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None and self.process.stdout.readline() == b"ready\n"

    def set(self, host: str, state: str) -> None:
        """Make ``host`` answer ``synced``, ``down`` or ``hang``."""
        request = urllib.request.Request(f"http://{host}:{self.port}/control?state={state}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def health_stand_in() -> Iterator[HealthStandIn]:
    """galera-healthcheck stand-in on every backend address (all synced at start)."""
    stand_in = HealthStandIn((*DB_HOSTS, "127.0.30.3"))
    yield stand_in
    stand_in.close()


@dataclass
class Proxy:
    """A proxy subprocess and how to reach it."""

    config: dict[str, Any]
    config_path: Path
    process: subprocess.Popen[bytes]
    stdout_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return str(self.config["bind_address"])

    @property
    def port(self) -> int:
        return int(self.config["port"])

    @property
    def event_log(self) -> Path:
        return Path(self.config["event_log_path"])

    def connect(self, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        kwargs.setdefault("connect_timeout", 5)
        return pymysql.connect(host=self.host, port=self.port, user=APP_USER, password=APP_PASSWORD, **kwargs)

    def http(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        auth: tuple[str, str] | None = (API_USER, API_PASSWORD),
        health: bool = False,
    ) -> tuple[int, Any]:
        """One HTTP request to the API (or health) port; returns (status, decoded JSON or text)."""
        port = self.config["health_port" if health else "api_port"]
        request = urllib.request.Request(f"http://{self.host}:{port}{path}", data=body, method=method)
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status, raw, kind = response.status, response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            status, raw, kind = exc.code, exc.read(), exc.headers.get_content_type()
        return status, json.loads(raw) if kind == "application/json" else raw.decode()

    def patch(self, **fields: Any) -> tuple[int, Any]:
        return self.http("PATCH", "/v0/cluster", body=json.dumps(fields).encode(), content_type="application/json")

    def cluster(self) -> dict[str, Any]:
        status, body = self.http("GET", "/v0/cluster")
        assert status == 200, body
        return dict(body)

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.event_log)

    def metric(self, name: str) -> float:
        """The value of one sample line of /metrics (``name`` includes labels, if any)."""
        status, text = self.http("GET", "/metrics")
        assert status == 200
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise KeyError(name)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


ProxyFactory = Callable[..., Proxy]


@pytest.fixture
def start_proxy(tmp_path: Path, health_stand_in: HealthStandIn) -> Iterator[ProxyFactory]:
    """Factory: start a proxy subprocess (``backends`` default: the MariaDB servers) and wait for /live."""
    proxies: list[Proxy] = []

    def start(backends: list[dict[str, Any]], **overrides: Any) -> Proxy:
        n = len(proxies)
        ports = [free_port(PROXY_HOST) for _ in range(3)]
        config: dict[str, Any] = {
            "instance_name": f"proxy/{n}",
            "bind_address": PROXY_HOST,
            "port": ports[0],
            "api_port": ports[1],
            "health_port": ports[2],
            "api_username": API_USER,
            "api_password": API_PASSWORD,
            "health_strategy": "galera-healthcheck",
            "galera_healthcheck_port": health_stand_in.port,
            "healthcheck_interval_millis": 100,
            "healthcheck_timeout_millis": 500,
            "healthcheck_rise": 1,
            "healthcheck_fall": 1,
            "shutdown_delay": 1,
            "start_enabled": True,
            "event_log_path": str(tmp_path / f"proxy{n}" / "events.jsonl"),
            "backends": backends,
        }
        config.update(overrides)
        path = tmp_path / f"proxy{n}.yml"
        path.write_text(json.dumps(config, indent=2))
        stdout_path = tmp_path / f"proxy{n}.stdout.log"
        with open(stdout_path, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "cf_mysql_consul.proxy", "--config", str(path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
            )
        proxy = Proxy(config, path, process, stdout_path)
        proxies.append(proxy)

        def live() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"proxy exited {process.returncode}: {stdout_path.read_text()[-3000:]}")
            return proxy.http("GET", "/live", auth=None, health=True)[0] == 200

        wait_until(live, 15, "the proxy to answer /live")
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


def backends_of(dbs: list[MariaDB]) -> list[dict[str, Any]]:
    """The ``backends`` config entries for ``dbs``."""
    return [{"name": db.name, "host": db.host, "port": db.port} for db in dbs]


@pytest.fixture
def proxy(start_proxy: ProxyFactory, mariadbs: list[MariaDB]) -> Proxy:
    """A proxy in front of both MariaDB servers, serving (start_enabled) once mysql/0 is active."""
    started = start_proxy(backends_of(mariadbs))
    wait_until(lambda: started.cluster()["activeBackend"], 10, "an active backend")
    return started


def server_port(proxy: Proxy) -> int:
    """The port of the MariaDB server a new connection through ``proxy`` reaches."""
    conn = proxy.connect()
    with conn.cursor() as cursor:
        cursor.execute("SELECT @@port")
        (port,) = cursor.fetchone()
    conn.close()
    return int(port)
