"""Raw relay: bytes arrive unchanged both ways, and a stalled reader does not make the proxy buffer."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from .conftest import ProxyFactory, free_port, wait_until

pytestmark = pytest.mark.integration
ECHO_HOST = "127.0.30.3"  # the health stand-in reports it synced
SIZE = 32 * 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_echo_byte_for_byte_with_backpressure(start_proxy: ProxyFactory) -> None:
    port = free_port(ECHO_HOST)
    proxy = start_proxy([{"name": "echo/0", "host": ECHO_HOST, "port": port}])
    wait_until(lambda: proxy.cluster()["activeBackend"], 10, "the echo backend to be active")
    payload = os.urandom(SIZE)
    stalled = asyncio.Event()
    peak = [0]

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1.0)  # stall: the client keeps writing, the proxy must stop reading it
        stalled.set()
        while chunk := await reader.read(1 << 16):
            writer.write(chunk)
            await writer.drain()
        writer.close()

    async def run() -> bytes:
        server = await asyncio.start_server(echo, ECHO_HOST, port)
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)

        async def send() -> None:
            writer.write(payload)
            await writer.drain()

        async def watch() -> None:
            while not stalled.is_set():
                peak[0] = max(peak[0], rss_kib(proxy.process.pid))
                await asyncio.sleep(0.05)

        sender = asyncio.create_task(send())
        await watch()
        received = await asyncio.wait_for(reader.readexactly(SIZE), 60)
        await sender
        writer.close()
        server.close()
        return received

    baseline = rss_kib(proxy.process.pid)
    received = asyncio.run(run())
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    assert peak[0] - baseline < 8 * 1024, f"proxy grew {peak[0] - baseline} KiB while the backend stalled"
