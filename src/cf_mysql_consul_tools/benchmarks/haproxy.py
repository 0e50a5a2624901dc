"""HAProxy 2.6 in TCP mode as the benchmarks' reference: config in a temp dir, one process.

``HAProxy`` starts ``haproxy -db`` (foreground, so the PID is its own) on a loopback address,
waits until the listener accepts, and stops exactly that process again.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cf_mysql_consul_tools.lab.waiting import wait_until


class HAProxyError(RuntimeError):
    """HAProxy is missing, refused its config or did not start listening."""


@dataclass(frozen=True, slots=True)
class Server:
    """One backend line: ``name host:port`` plus HAProxy server options (checks, backup)."""

    name: str
    host: str
    port: int
    options: str = ""


def tcp_config(bind: str, port: int, servers: list[Server], *, defaults: str = "", nbthread: int | None = None) -> str:
    """A minimal TCP-mode config: one ``listen`` section relaying ``bind:port`` to ``servers``.

    ``nbthread`` None keeps HAProxy's default (one thread per CPU).
    """
    lines = [
        "global",
        "  maxconn 4096",
        *([f"  nbthread {nbthread}"] if nbthread else []),
        "defaults",
        "  mode tcp",
        "  timeout connect 1s",
        "  timeout client 1h",
        "  timeout server 1h",
        *[f"  {line}" for line in defaults.splitlines() if line.strip()],
        "listen mysql",
        f"  bind {bind}:{port}",
        *[f"  server {s.name} {s.host}:{s.port} {s.options}".rstrip() for s in servers],
    ]
    return "\n".join(lines) + "\n"


class HAProxy:
    """One HAProxy process for ``config`` listening on ``bind:port``; a context manager."""

    def __init__(self, config: str, bind: str, port: int) -> None:
        if shutil.which("haproxy") is None:
            raise HAProxyError("haproxy is not installed (./inv bootstrap installs it)")
        self.config = config
        self.bind, self.port = bind, port
        self._dir = tempfile.TemporaryDirectory(prefix="bench-haproxy-")
        self.path = Path(self._dir.name) / "haproxy.cfg"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> HAProxy:
        """Check the config, start HAProxy and wait until it accepts connections."""
        self.path.write_text(self.config)
        check = subprocess.run(["haproxy", "-c", "-f", str(self.path)], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise HAProxyError(f"haproxy refused {self.path}: {check.stdout}{check.stderr}")
        log = open(Path(self._dir.name) / "haproxy.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(["haproxy", "-db", "-f", str(self.path)], stdout=log, stderr=log)
        log.close()

        def accepting() -> bool:
            with socket.create_connection((self.bind, self.port), timeout=1):
                return True

        def exited() -> str | None:
            if self.process is not None and self.process.poll() is not None:
                return f"haproxy exited {self.process.returncode}: {self.log_tail()}"
            return None

        wait_until(accepting, timeout=15, what=f"HAProxy to listen on {self.bind}:{self.port}", abort=exited)
        return self

    def log_tail(self) -> str:
        """The end of HAProxy's own output."""
        path = Path(self._dir.name) / "haproxy.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop the process this object started (SIGTERM, then SIGKILL) and delete the temp dir."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        self._dir.cleanup()

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def wait_port_free(host: str, port: int, timeout: float = 10) -> None:
    """Wait until nothing listens on ``host:port`` (a previous run's HAProxy is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                pass
        except OSError:
            return
        time.sleep(0.1)
    raise HAProxyError(f"{host}:{port} is still in use; stop whatever listens there")
