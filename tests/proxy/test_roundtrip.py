"""Round trips through the proxy against real MariaDB: results must equal a direct connection."""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import APP_PASSWORD, APP_USER, MariaDB, Proxy, server_port

pytestmark = pytest.mark.integration


def test_lands_on_lowest_index(proxy: Proxy, mariadbs: list[MariaDB]) -> None:
    assert server_port(proxy) == mariadbs[0].port
    assert proxy.cluster()["activeBackend"]["name"] == "mysql/0"


def test_large_result_set_equals_direct(proxy: Proxy, mariadbs: list[MariaDB]) -> None:
    query = "SELECT seq, MD5(seq), REPEAT('x', seq % 100) FROM seq_1_to_200000"
    results = []
    for conn in (proxy.connect(database="proxytest"), mariadbs[0].connect(database="proxytest")):
        with conn.cursor() as cursor:
            cursor.execute(query)
            results.append(cursor.fetchall())
        conn.close()
    assert len(results[0]) == 200000
    assert results[0] == results[1]


def test_16mb_blob_byte_for_byte(proxy: Proxy) -> None:
    blob = os.urandom(16 * 1024 * 1024)
    conn = proxy.connect(database="proxytest", autocommit=True, max_allowed_packet=64 * 1024 * 1024)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS blobs (id INT PRIMARY KEY, data LONGBLOB)")
        cursor.execute("REPLACE INTO blobs VALUES (1, %s)", (blob,))
        cursor.execute("SELECT data, SHA2(data, 256) FROM blobs WHERE id = 1")
        data, digest = cursor.fetchone()
    conn.close()
    assert digest == hashlib.sha256(blob).hexdigest()
    assert data == blob


def test_many_concurrent_clients(proxy: Proxy) -> None:
    def client(i: int) -> list[int]:
        conn = proxy.connect()
        seen = []
        with conn.cursor() as cursor:
            for j in range(20):
                cursor.execute("SELECT %s + %s", (i, j))
                seen.append(cursor.fetchone()[0])
        conn.close()
        return seen

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(client, range(64)))
    assert results == [[i + j for j in range(20)] for i in range(64)]


def test_2000_concurrent_connections_get_greetings(proxy: Proxy) -> None:
    """2,000 sessions open at once, each gets the backend's handshake (protocol 10)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 8192), hard), hard))

    async def run() -> list[int]:
        streams = []
        try:
            for _ in range(2000):
                streams.append(await asyncio.wait_for(asyncio.open_connection(proxy.host, proxy.port), 5))
            packets = await asyncio.wait_for(asyncio.gather(*(r.readexactly(5) for r, _ in streams)), 30)
            assert proxy.metric("cf_mysql_proxy_connections_open") == 2000
            return [p[4] for p in packets]
        finally:
            for _, writer in streams:
                writer.close()

    assert set(asyncio.run(run())) == {10}


def test_prepared_statements_with_sysbench(proxy: Proxy) -> None:
    """sysbench uses server-side (binary protocol) prepared statements in oltp_point_select."""
    common = [
        "--db-driver=mysql",
        f"--mysql-host={proxy.host}",
        f"--mysql-port={proxy.port}",
        f"--mysql-user={APP_USER}",
        f"--mysql-password={APP_PASSWORD}",
        "--mysql-db=proxytest",
        "--mysql-ssl=off",
        "--tables=1",
        "--table-size=1000",
        "--db-ps-mode=auto",
    ]
    subprocess.run(["sysbench", "oltp_point_select", *common, "cleanup"], capture_output=True, timeout=60)
    subprocess.run(["sysbench", "oltp_point_select", *common, "prepare"], check=True, capture_output=True, timeout=60)
    run = subprocess.run(
        ["sysbench", "oltp_point_select", *common, "--threads=4", "--time=2", "run"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "ignored errors:                      0" in run.stdout, run.stdout
    queries = next(line for line in run.stdout.splitlines() if "read:" in line)
    assert int(queries.split()[-1]) > 1000
