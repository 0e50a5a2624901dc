"""Wiring of the proxy process: relay, monitor, controller, HTTP, signals, shutdown."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal

from aiohttp import web

from cf_mysql_consul.proxy.api import api_app, health_app
from cf_mysql_consul.proxy.config import ProxyConfig
from cf_mysql_consul.proxy.controller import Controller
from cf_mysql_consul.proxy.events import EventLog
from cf_mysql_consul.proxy.health import BackendMonitor
from cf_mysql_consul.proxy.relay import Relay

log = logging.getLogger(__name__)


def raise_open_files_limit(wanted: int = 65536) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (bpm sets the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


async def _serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner


async def run(config: ProxyConfig) -> int:
    """Run the proxy until SIGTERM/SIGINT, then shut down gracefully; return the exit code."""
    loop = asyncio.get_running_loop()
    files = raise_open_files_limit()
    events = EventLog(config.event_log_path, config.instance_name)
    relay = Relay(instance_name=config.instance_name, max_connections=config.max_connections)
    controller = Controller(config, relay, events)
    monitor = BackendMonitor(config, controller.on_health_change)
    controller.monitor = monitor
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    await relay.listen(config.bind_address, config.port)
    runners = [
        await _serve(api_app(controller), config.bind_address, config.api_port),
        await _serve(health_app(controller), config.bind_address, config.health_port),
    ]
    await monitor.start()
    controller.start()
    events.emit(
        "started",
        f"{config.instance_name} listening on {config.bind_address}:{config.port} "
        f"(api {config.api_port}, health {config.health_port}, open files {files})",
        backends=[b.name for b in config.backends],
        strategy=config.health_strategy,
    )

    await stop.wait()
    relay.stop_accepting()
    controller.drain("SIGTERM: shutting down")
    deadline = controller.drain_deadline()
    events.emit(
        "stopping",
        f"stopped accepting; waiting up to {max(0.0, deadline - controller.clock()):.1f} s "
        f"for {relay.open} sessions",
        sessions=relay.open,
    )
    while relay.open and controller.clock() < deadline:
        await asyncio.sleep(0.05)
    controller.finish_drain()
    await controller.stop()
    await monitor.stop()
    for runner in runners:
        await runner.cleanup()
    events.emit("stopped", f"{config.instance_name} stopped")
    events.close()
    return 0
