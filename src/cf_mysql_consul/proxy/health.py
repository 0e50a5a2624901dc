"""Backend monitor: polls every backend concurrently, with a timeout and rise/fall counts.

Strategies (``health_strategy``):
- ``galera-healthcheck``: ``GET http://<host>:<healthcheck_port>/api/v1/status`` (cf-mysql's
  galera-healthcheck); healthy when ``healthy`` is true and ``wsrep_local_state`` is 4 (Synced),
  or 2 (Donor) with ``available_when_donor``.
- ``sql``: log in as the monitor user and read ``wsrep_local_state``, ``wsrep_ready`` and
  ``read_only``. PyMySQL blocks, so each poll runs in a worker thread with socket timeouts; the
  event loop only awaits it with ``asyncio.wait_for``.

A hung node (SIGSTOP) answers nothing: the poll's timeout makes it a failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pymysql

from cf_mysql_consul.galera import DONOR, SYNCED
from cf_mysql_consul.proxy.config import Backend, ProxyConfig

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One poll's outcome: ``ok`` and a short human detail (state comment or error)."""

    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class HealthTracker:
    """Rise/fall hysteresis, pure. ``healthy`` None until the first result, which decides alone."""

    rise: int
    fall: int
    healthy: bool | None = None
    streak: int = 0

    def observe(self, ok: bool) -> HealthTracker:
        """Return the tracker after one poll result."""
        if self.healthy is None:
            return replace(self, healthy=ok, streak=0)
        if ok == self.healthy:
            return replace(self, streak=0)
        streak = self.streak + 1
        if streak >= (self.rise if ok else self.fall):
            return replace(self, healthy=ok, streak=0)
        return replace(self, streak=streak)


@dataclass(slots=True)
class BackendStatus:
    """What the monitor knows about one backend (mutable, owned by the monitor)."""

    backend: Backend
    tracker: HealthTracker
    detail: str = "not polled yet"
    last_poll_seconds: float = 0.0
    polls: int = 0
    failures: int = 0


def judge_status(body: Any, *, available_when_donor: bool) -> ProbeResult:
    """Judge a galera-healthcheck ``/api/v1/status`` JSON body."""
    if not isinstance(body, dict) or "wsrep_local_state" not in body:
        return ProbeResult(False, f"unexpected status body: {str(body)[:120]}")
    state = body.get("wsrep_local_state")
    comment = body.get("wsrep_local_state_comment", f"state {state}")
    allowed = {SYNCED, DONOR} if available_when_donor else {SYNCED}
    if body.get("healthy", True) is not True:
        return ProbeResult(False, f"galera-healthcheck says unhealthy ({comment})")
    if state not in allowed:
        return ProbeResult(False, f"wsrep_local_state {state} ({comment}) is not serviceable")
    return ProbeResult(True, str(comment))


def judge_sql(status: dict[str, str], read_only: int, *, available_when_donor: bool) -> ProbeResult:
    """Judge ``SHOW GLOBAL STATUS LIKE 'wsrep_%'`` values and ``@@read_only``."""
    if "wsrep_local_state" not in status:
        return ProbeResult(False, "no wsrep status (not a Galera node?)")
    state = int(status["wsrep_local_state"])
    comment = status.get("wsrep_local_state_comment", f"state {state}")
    allowed = {SYNCED, DONOR} if available_when_donor else {SYNCED}
    if status.get("wsrep_ready", "OFF").upper() != "ON":
        return ProbeResult(False, f"wsrep_ready is {status.get('wsrep_ready')} ({comment})")
    if state not in allowed:
        return ProbeResult(False, f"wsrep_local_state {state} ({comment}) is not serviceable")
    if read_only:
        return ProbeResult(False, f"read_only is ON ({comment})")
    return ProbeResult(True, comment)


Probe = Callable[[Backend], Awaitable[ProbeResult]]
OnChange = Callable[[Backend, bool, str], None]


class BackendMonitor:
    """Runs one poll loop per backend and reports health transitions through ``on_change``."""

    def __init__(self, config: ProxyConfig, on_change: OnChange) -> None:
        self._config = config
        self._on_change = on_change
        self._timeout = config.healthcheck_timeout_millis / 1000
        self._interval = config.healthcheck_interval_millis / 1000
        self.statuses = {
            b.name: BackendStatus(b, HealthTracker(config.healthcheck_rise, config.healthcheck_fall))
            for b in config.backends
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Start polling every backend concurrently."""
        if self._config.health_strategy == "sql":
            # Hung polls hold a thread until their socket timeout: leave room for a few per backend.
            self._executor = ThreadPoolExecutor(
                max_workers=4 * len(self._config.backends), thread_name_prefix="sql-probe"
            )
        else:
            connector = aiohttp.TCPConnector(force_close=True, limit=0)
            self._session = aiohttp.ClientSession(connector=connector)
        self._tasks = [
            asyncio.create_task(self._loop(s), name=f"monitor {s.backend.name}")
            for s in self.statuses.values()
        ]

    async def stop(self) -> None:
        """Stop polling and release the HTTP session / worker threads."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _loop(self, status: BackendStatus) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                result = await asyncio.wait_for(self._probe(status.backend), self._timeout)
            except TimeoutError:
                result = ProbeResult(False, f"no answer within {self._config.healthcheck_timeout_millis} ms")
            except Exception as exc:  # any probe failure is a failed poll, never a dead loop
                result = ProbeResult(False, f"{type(exc).__name__}: {exc}"[:200])
            self._observe(status, result, loop.time() - started)
            await asyncio.sleep(max(0.0, self._interval - (loop.time() - started)))

    def _observe(self, status: BackendStatus, result: ProbeResult, elapsed: float) -> None:
        before = status.tracker.healthy
        status.tracker = status.tracker.observe(result.ok)
        status.detail = result.detail
        status.last_poll_seconds = elapsed
        status.polls += 1
        status.failures += not result.ok
        if status.tracker.healthy != before and status.tracker.healthy is not None:
            self._on_change(status.backend, status.tracker.healthy, result.detail)

    async def _probe(self, backend: Backend) -> ProbeResult:
        if self._session is not None:
            return await self._probe_http(self._session, backend)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._probe_sql, backend)

    async def _probe_http(self, session: aiohttp.ClientSession, backend: Backend) -> ProbeResult:
        url = f"http://{backend.host}:{self._config.healthcheck_port}/api/v1/status"
        async with session.get(url) as response:
            if response.status != 200:
                return ProbeResult(False, f"galera-healthcheck answered HTTP {response.status}")
            body = await response.json(content_type=None)
        return judge_status(body, available_when_donor=self._config.available_when_donor)

    def _probe_sql(self, backend: Backend) -> ProbeResult:
        started = time.monotonic()
        conn = pymysql.connect(
            host=backend.host,
            port=backend.port,
            user=self._config.monitor_user,
            password=self._config.monitor_password,
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
            write_timeout=self._timeout,
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SHOW GLOBAL STATUS WHERE Variable_name IN "
                    "('wsrep_local_state', 'wsrep_local_state_comment', 'wsrep_ready')"
                )
                status = {str(k).lower(): str(v) for k, v in cursor.fetchall()}
                cursor.execute("SELECT @@global.read_only")
                row = cursor.fetchone()
        finally:
            conn.close()
        log.debug("sql probe of %s took %.3f s", backend.name, time.monotonic() - started)
        return judge_sql(
            status, int(row[0]) if row else 0, available_when_donor=self._config.available_when_donor
        )
