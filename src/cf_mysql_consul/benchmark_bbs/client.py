"""BBS's SQL client behaviour: a bounded connection pool and whole-transaction retries.

Contract (what callers may rely on):
- ``Pool.transact(fn)`` runs ``fn(cursor)`` as one transaction on one connection, then
  COMMITs. On a retryable error (``errors.KINDS``) the transaction is rolled back and the WHOLE
  of ``fn`` runs again on a fresh or pooled connection, up to ``attempts`` times,
  ``retry_delay`` apart, as BBS's ``RetryOnDeadlock`` does. Anything else, or the last
  failure, raises ``BbsError``.
- Connections run with autocommit off, so a transaction begins with its first statement: no
  BEGIN round trip (BBS's Go driver sends one). Every statement of ``fn`` is still in the one
  transaction, and work on a connection that breaks before COMMIT is rolled back by the server.
  ``fn`` may send its last write with ``cursor.execute_and_commit``: the write and the COMMIT
  in one round trip (BBS sends them apart); a COMMIT that fails (a Galera certification
  failure: 1213) raises there as it would from a COMMIT of its own. The server does the same
  work; a client beyond a proxy pays one relayed round trip less.
- At most ``max_open`` connections exist at once (BBS: ``max_database_connections`` 200);
  callers beyond that wait for one.
- Like Go's ``database/sql``, a pooled connection found dead on first use (its first
  statement fails on a broken connection) is dropped and another one is taken without
  counting an attempt (up to two), then a new connection is made.
- A commit whose reply is lost raises ``lost_connection``: the write may or may not have
  happened; the audit treats every failed write as unknown.
- A pool pickles as its settings: the copy in another process opens its own connections.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import pymysql
import pymysql.cursors
from pymysql.constants import CLIENT

from cf_mysql_consul.benchmark_bbs.errors import BbsError, classify, is_connection_broken
from cf_mysql_consul.benchmark_bbs.resolve import ResolveError, Resolver

log = logging.getLogger(__name__)
T = TypeVar("T")
Cursor: TypeAlias = Any  # a pymysql cursor (pymysql ships no type hints)


class CountingCursor(pymysql.cursors.Cursor):  # type: ignore[misc]  # pymysql ships no type hints
    """A cursor that counts the statements that completed (0: the connection was not used yet) and
    can end the transaction with its last write."""

    completed = 0
    committed = False

    def execute(self, query: Any, args: Any = None) -> int:
        result: int = super().execute(query, args)
        self.completed += 1
        return result

    def execute_and_commit(self, query: str, args: Any = None) -> int:
        """Run ``query`` and COMMIT in one round trip; raises the COMMIT's error like a COMMIT would."""
        result = self.execute(f"{query}; COMMIT", args)
        while self.nextset():  # the COMMIT's own result (its error, if any, is raised here)
            pass
        self.committed = True
        return result


class Pool:
    """Connections to MySQL found through ``resolver``; thread-safe."""

    def __init__(self, resolver: Resolver, *, user: str, password: str, database: str, max_open: int = 200,
                 attempts: int = 3, retry_delay: float = 0.5, connect_timeout: float = 5.0,
                 read_timeout: float = 60.0) -> None:
        self.resolver = resolver
        self.user, self.password, self.database = user, password, database
        self.max_open = max_open
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._slots = threading.BoundedSemaphore(max_open)
        self._idle: list[pymysql.Connection[Any]] = []
        self._lock = threading.Lock()
        self.opened = 0

    def __reduce__(self) -> tuple[Any, ...]:
        settings = {name: getattr(self, name) for name in (
            "user", "password", "database", "max_open", "attempts", "retry_delay", "connect_timeout", "read_timeout")}
        return _rebuild, (self.resolver, settings)

    # ---- connections --------------------------------------------------------------------
    def _connect(self) -> pymysql.Connection[Any]:
        try:
            candidates = self.resolver.candidates()
        except ResolveError as exc:
            raise BbsError("connect", str(exc)) from exc
        last: BbsError | None = None
        for host, port in candidates:
            try:
                conn = pymysql.connect(host=host, port=port, user=self.user, password=self.password,
                                       database=self.database, connect_timeout=self.connect_timeout,
                                       read_timeout=self.read_timeout, write_timeout=self.read_timeout,
                                       autocommit=False, cursorclass=CountingCursor,
                                       client_flag=CLIENT.MULTI_STATEMENTS)
            except Exception as exc:
                last = classify(exc, connecting=True)
                continue
            self.opened += 1
            return conn
        assert last is not None
        raise last

    def _take(self, *, pooled_ok: bool) -> tuple[pymysql.Connection[Any], bool]:
        """A connection (an idle one when ``pooled_ok`` and there is one) and whether it was pooled."""
        if pooled_ok:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is not None:
                return conn, True
        return self._connect(), False

    def _release(self, conn: pymysql.Connection[Any]) -> None:
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)

    # ---- transactions -------------------------------------------------------------------
    def transact(self, fn: Callable[[Cursor], T], *, on_retry: Callable[[BbsError], None] | None = None) -> T:
        """Run ``fn`` as one transaction with BBS's retries (see the module docstring)."""
        error: BbsError | None = None
        for attempt in range(1, self.attempts + 1):
            with self._slots:
                try:
                    return self._once(fn)
                except BbsError as exc:
                    error = exc
            error.attempts = attempt
            if not error.retryable or attempt == self.attempts:
                break
            log.debug("attempt %d of %d failed (%s), retrying in %g s", attempt, self.attempts, error,
                      self.retry_delay)
            if on_retry is not None:
                on_retry(error)
            time.sleep(self.retry_delay)
        assert error is not None
        raise error

    def _once(self, fn: Callable[[Cursor], T]) -> T:
        for stale in range(3):  # a pooled connection dead on first use is replaced, twice at most
            conn, pooled = self._take(pooled_ok=stale < 2)
            cur = conn.cursor()
            try:
                result = fn(cur)
                cur.close()
                if not cur.committed:
                    conn.commit()
            except BbsError as exc:  # a model error raised by fn: roll back, keep the connection
                try:
                    conn.rollback()
                except Exception:
                    _close(conn)
                    raise exc from None
                self._release(conn)
                raise
            except Exception as exc:
                error = classify(exc)
                if is_connection_broken(error):
                    _close(conn)
                    if pooled and cur.completed == 0 and error.kind == "lost_connection":
                        continue  # found dead on first use: nothing ran, take another
                else:
                    try:
                        conn.rollback()
                        self._release(conn)
                    except Exception:
                        _close(conn)
                raise error from exc
            self._release(conn)
            return result
        raise AssertionError("unreachable: the third connection is a new one")


def _rebuild(resolver: Resolver, settings: dict[str, Any]) -> Pool:
    return Pool(resolver, **settings)


def _close(conn: pymysql.Connection[Any]) -> None:
    try:
        conn.close()
    except Exception:
        conn._force_close()  # pymysql: drop the socket without the quit packet


def query_all(cur: Cursor, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
    """Execute and fetch every row."""
    cur.execute(sql, args)
    return list(cur.fetchall())
