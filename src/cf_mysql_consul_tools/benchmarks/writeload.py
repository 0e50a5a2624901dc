"""A steady write load through the lab's proxies, remembering every acknowledged write.

Each writer thread INSERTs one row per transaction (autocommit) through whichever proxy
serves, keeping its connection and reconnecting only on an error; an INSERT counts as
acknowledged only when the server's OK arrived, and its id, time and target are kept, so
afterwards every acknowledged row can be looked up on every node. The targets are fixed
addresses, or a function asked again before each reconnect (a client that follows
``mysql.service.consul`` through Consul DNS). ``TrafficKeeper`` stands in for the consul-lock
job when the manifest has none: it enables traffic on one live proxy whenever none serves
(never two at once).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql

from cf_mysql_consul.proxy.client import ApiError
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.lab.lab import Lab


@dataclass(slots=True)
class LoadResult:
    """What the load saw: acknowledged ids, errors by kind, and when errors happened."""

    acked: list[int] = field(default_factory=list)
    ack_log: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, target) of each ``acked``
    errors: Counter[str] = field(default_factory=Counter)
    error_times: list[float] = field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0

    @property
    def error_count(self) -> int:
        """Failed attempts (including failed connects)."""
        return sum(self.errors.values())


class WriteLoad:
    """``writers`` threads inserting at most ``rate`` rows/s in total through the proxies (or ``targets``:
    addresses, or a function that returns them, asked before each connect); ``timeout`` bounds each
    connect, read and write."""

    def __init__(self, lab: Lab, *, writers: int = 4, rate: float = 200.0, payload_bytes: int = 200,
                 table: str | None = None, targets: list[str] | Callable[[], list[str]] | None = None,
                 timeout: float = 10.0) -> None:
        self.lab = lab
        self.writers = writers
        self.rate = rate
        self.payload = "x" * payload_bytes
        self.table = table or f"acks_{uuid.uuid4().hex[:8]}"
        self.user, self.password = access.mysql_admin(lab.deployment)
        self.targets = targets or [i.address for i in lab.deployment.with_job("proxy")] or \
            [i.address for i in lab.deployment.with_job("mysql")]
        self.timeout = timeout
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def prepare(self) -> None:
        """Create the database and table on a node directly."""
        with self.lab.mysql(self.lab.deployment.with_job("mysql")[0].name) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS drainload")
            cur.execute(f"CREATE TABLE IF NOT EXISTS drainload.{self.table} (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
                        " writer INT NOT NULL, payload VARCHAR(4096) NOT NULL)")

    def _connect(self) -> tuple[pymysql.Connection[Any], str]:
        last: Exception | None = None
        for host in self.targets() if callable(self.targets) else self.targets:
            try:
                conn = pymysql.connect(host=host, port=3306, user=self.user, password=self.password, autocommit=True,
                                       connect_timeout=min(2.0, self.timeout), read_timeout=self.timeout,
                                       write_timeout=self.timeout)
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                return conn, host
            except pymysql.MySQLError as exc:
                last = exc
        raise last or pymysql.OperationalError("no target")

    def _error(self, exc: Exception) -> None:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else type(exc).__name__
        with self._lock:
            self.result.errors[str(code)] += 1
            self.result.error_times.append(time.monotonic() - self._started)

    def _writer(self, n: int) -> None:
        interval = self.writers / self.rate if self.rate > 0 else 0.0
        conn: pymysql.Connection[Any] | None = None
        host = ""
        next_at = time.monotonic()
        while not self._stop.is_set():
            if interval:
                next_at = max(next_at + interval, time.monotonic() - 1.0)
                delay = next_at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
            with self._lock:
                self.result.attempts += 1
            try:
                if conn is None:
                    conn, host = self._connect()
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO drainload.{self.table} (writer, payload) VALUES (%s, %s)",
                                (n, self.payload))
                    new_id = int(cur.lastrowid)
                with self._lock:
                    self.result.acked.append(new_id)
                    self.result.ack_log.append((time.monotonic(), host))
            except (pymysql.MySQLError, OSError) as exc:
                self._error(exc)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
                self._stop.wait(0.1)
        if conn is not None:
            conn.close()

    def start(self) -> None:
        """Start the writers."""
        self.prepare()
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._writer, args=(n,), daemon=True, name=f"writer-{n}")
                         for n in range(self.writers)]
        for t in self._threads:
            t.start()

    def stop(self) -> LoadResult:
        """Stop the writers and return what they saw."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        self.result.seconds = time.monotonic() - self._started
        return self.result

    def missing_on(self, node: str) -> list[int]:
        """Ids acknowledged before this call that node ``node`` does not have, read once it applied every
        write committed before the read (the writers may go on meanwhile: later ids are not asked about)."""
        with self._lock:
            acked = list(self.result.acked)
        with self.lab.mysql(node, read_timeout=60) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 1")
            cur.execute(f"SELECT id FROM drainload.{self.table}")
            present = {int(r[0]) for r in cur.fetchall()}
        return [i for i in acked if i not in present]


class TrafficKeeper:
    """Stand-in for consul-lock: keep exactly one live proxy serving (enable one when none does)."""

    def __init__(self, lab: Lab, *, interval: float = 0.3) -> None:
        self.proxies = [access.proxy_client(lab.deployment, i.name) for i in lab.deployment.with_job("proxy")]
        self.interval = interval
        self.enabled_count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="traffic-keeper")

    def tick(self) -> None:
        """Enable the first live, not-draining proxy if no proxy serves."""
        live = []
        for api in self.proxies:
            try:
                cluster = api.cluster()
            except ApiError:
                continue
            if cluster.get("trafficEnabled"):
                return
            if not cluster.get("draining"):
                live.append(api)
        for api in live:
            try:
                api.set_traffic(True, "lab traffic keeper")
                self.enabled_count += 1
                return
            except ApiError:
                continue

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def start(self) -> TrafficKeeper:
        """Enable traffic now and keep it enabled in the background."""
        self.tick()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop keeping."""
        self._stop.set()
        self._thread.join(timeout=5)

    def disable_all(self) -> None:
        """Turn traffic off on every proxy again (leave a shared lab's proxies standby, as found)."""
        for api in self.proxies:
            with contextlib.suppress(ApiError):
                api.set_traffic(False, "lab traffic keeper done")
