"""The local MySQL node, read through its unix socket: status counters over a short sample.

Contract: every call has a connect and read timeout (2 s / 5 s); nothing raises for a node
that is down or hung: the answer says so (``NodeStatus.running``/``error``). Nothing here
writes to the node.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pymysql

from cf_mysql_consul.galera_drain.decide import NodeStatus
from cf_mysql_consul.hooks import pid_file_alive

STATUS_SQL = (
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_ready',"
    "'wsrep_cluster_status','wsrep_cluster_size','wsrep_local_recv_queue','wsrep_last_committed',"
    "'wsrep_flow_control_paused_ns','Threads_running')"
)


@dataclass(frozen=True, slots=True)
class MySQLTarget:
    """How to reach the colocated mysqld."""

    socket: str
    pid_file: str
    user: str
    password: str


def _connect(target: MySQLTarget) -> pymysql.Connection[Any]:
    return pymysql.connect(unix_socket=target.socket, user=target.user, password=target.password,
                           connect_timeout=2, read_timeout=5, write_timeout=5, autocommit=True)


def _read(conn: pymysql.Connection[Any]) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute(STATUS_SQL)
        return {str(k): str(v) for k, v in cur.fetchall()}


def _int(st: dict[str, str], key: str) -> int:
    try:
        return int(st.get(key, "0") or 0)
    except ValueError:
        return 0


def sample(target: MySQLTarget, *, seconds: float = 1.0) -> NodeStatus:
    """Two status reads ``seconds`` apart: state from the second, rates from the difference."""
    try:
        conn = _connect(target)
    except pymysql.MySQLError as exc:
        return NodeStatus(running=pid_file_alive(target.pid_file),
                          error=f"mysqld does not answer on {target.socket}: {exc}")
    try:
        t0, first = time.monotonic(), _read(conn)
        time.sleep(seconds)
        t1, second = time.monotonic(), _read(conn)
    except pymysql.MySQLError as exc:
        return NodeStatus(running=True, error=f"status query failed: {exc}")
    finally:
        conn.close()
    span = max(t1 - t0, 1e-3)
    return status_from(second, first, span)


def status_from(second: dict[str, str], first: dict[str, str] | None, span: float) -> NodeStatus:
    """A ``NodeStatus`` from one status read (and rates against an earlier one)."""
    writes = paused = 0.0
    if first is not None:
        writes = max(0, _int(second, "wsrep_last_committed") - _int(first, "wsrep_last_committed")) / span
        paused_ns = _int(second, "wsrep_flow_control_paused_ns") - _int(first, "wsrep_flow_control_paused_ns")
        paused = min(1.0, max(0.0, paused_ns / 1e9 / span))
    return NodeStatus(
        running=True,
        state=second.get("wsrep_local_state_comment", "unknown") or "unknown",
        ready=second.get("wsrep_ready") == "ON",
        cluster_status=second.get("wsrep_cluster_status", "unknown") or "unknown",
        cluster_size=_int(second, "wsrep_cluster_size"),
        recv_queue=_int(second, "wsrep_local_recv_queue"),
        writes_per_second=writes,
        flow_control_paused=paused,
        threads_running=max(0, _int(second, "Threads_running") - 1),  # minus our own query
    )


def read_once(target: MySQLTarget) -> NodeStatus:
    """One status read (no rates): what post-start polls."""
    try:
        conn = _connect(target)
    except pymysql.MySQLError as exc:
        return NodeStatus(running=pid_file_alive(target.pid_file), error=f"mysqld does not answer: {exc}")
    try:
        return status_from(_read(conn), None, 1.0)
    except pymysql.MySQLError as exc:
        return NodeStatus(running=True, error=f"status query failed: {exc}")
    finally:
        conn.close()


def wait_for_idle_moment(target: MySQLTarget, *, timeout: float, poll: float = 0.02) -> tuple[bool, int]:
    """Poll until no client transaction is open on this node (or ``timeout``): (idle, open count).

    Used just before a planned switchover, whose proxy severs the node's sessions at once: an
    instant with no open transaction cuts none mid-way.
    """
    deadline = time.monotonic() + timeout
    count = -1
    try:
        conn = _connect(target)
    except pymysql.MySQLError:
        return False, count
    try:
        with conn.cursor() as cur:
            while True:
                cur.execute("SELECT COUNT(*) FROM information_schema.innodb_trx "
                            "WHERE trx_mysql_thread_id <> CONNECTION_ID()")
                row = cur.fetchone()
                count = int(row[0]) if row else 0
                if count == 0:
                    return True, 0
                if time.monotonic() >= deadline:
                    return False, count
                time.sleep(poll)
    except pymysql.MySQLError:
        return False, count
    finally:
        conn.close()


def parse_size(text: str) -> int:
    """Galera's size syntax (``256M``, ``1G``, ``1048576``) in bytes; 0 when unreadable."""
    text = text.strip().upper()
    factor = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
    digits = text[:-1] if factor != 1 else text
    try:
        return int(float(digits) * factor)
    except ValueError:
        return 0


def stop_record(target: MySQLTarget, *, writes_per_second: float) -> dict[str, float]:
    """What the node looked like as it was allowed to stop (for the pre-start's IST estimate).

    ``seqno`` (wsrep_last_committed), ``gcache_bytes`` (gcache.size: the peers run the same
    job properties, so theirs is the same), ``writeset_bytes`` (average replicated/received
    write-set size so far) and the cluster's ``writes_per_second``. Empty when unreadable.
    """
    try:
        conn = _connect(target)
    except pymysql.MySQLError:
        return {}
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_last_committed','wsrep_replicated',"
                        "'wsrep_received','wsrep_replicated_bytes','wsrep_received_bytes')")
            st = {str(k): str(v) for k, v in cur.fetchall()}
            cur.execute("SELECT @@wsrep_provider_options")
            row = cur.fetchone()
    except pymysql.MySQLError:
        return {}
    finally:
        conn.close()
    options = {k.strip(): v.strip() for k, _, v in (o.partition("=") for o in str(row[0] if row else "").split(";"))}
    count = _int(st, "wsrep_replicated") + _int(st, "wsrep_received")
    size = _int(st, "wsrep_replicated_bytes") + _int(st, "wsrep_received_bytes")
    return {
        "seqno": float(_int(st, "wsrep_last_committed")),
        "gcache_bytes": float(parse_size(options.get("gcache.size", "0"))),
        "writeset_bytes": size / count if count else 0.0,
        "writes_per_second": writes_per_second,
    }


def uptime_seconds(target: MySQLTarget) -> float | None:
    """mysqld's ``Uptime``: once Synced after a start, how long that start took to rejoin."""
    try:
        conn = _connect(target)
    except pymysql.MySQLError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Uptime'")
            row = cur.fetchone()
            return float(row[1]) if row else None
    except pymysql.MySQLError:
        return None
    finally:
        conn.close()
