"""consul-lock's peer API: failsafe requests from the holder (basic auth) and ``GET /metrics``.

- ``POST /v1/failsafe`` ``{"holder": NAME, "lockIndex": N}``: 200 ``{"accepted": true, "ttlSeconds": T}``
  when this job promises not to take over for T seconds, 409 ``{"accepted": false, "reason": ...}``
  when it cannot; 401 without the right credentials, 400 for a malformed body.
- ``GET /metrics``: Prometheus text, no auth.
Each request is served on a thread of its own and answers at once (nothing here waits on Consul).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)
MAX_BODY = 4096

Answer = Callable[[str, int | None], str | None]
"""Called with (holder, lock index); returns a refusal reason, or None when promised."""


class PeerApi:
    """The HTTP server; ``start`` serves on a daemon thread until ``stop``."""

    def __init__(self, address: str, port: int, *, username: str, password: str, answer: Answer,
                 ttl: float, metrics: Callable[[], bytes]) -> None:
        expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug("peer api: " + format, *args)

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, doc: dict[str, Any]) -> None:
                self._send(status, json.dumps(doc).encode())

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, metrics(), "text/plain; version=0.0.4; charset=utf-8")
                else:
                    self._json(404, {"error": "not found: GET /metrics or POST /v1/failsafe"})

            def do_POST(self) -> None:
                if self.path != "/v1/failsafe":
                    self._json(404, {"error": "not found: POST /v1/failsafe"})
                    return
                if not hmac.compare_digest(self.headers.get("Authorization", ""), expected):
                    self._json(401, {"error": "peer_api credentials required"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    doc = json.loads(self.rfile.read(min(length, MAX_BODY)) or b"{}")
                    holder = str(doc["holder"])
                    index = doc.get("lockIndex")
                    lock_index = int(index) if index is not None else None
                except (ValueError, KeyError, TypeError):
                    self._json(400, {"error": "body must be JSON {\"holder\": NAME, \"lockIndex\": N}"})
                    return
                refusal = answer(holder, lock_index)
                if refusal is None:
                    self._json(200, {"accepted": True, "ttlSeconds": ttl})
                else:
                    self._json(409, {"accepted": False, "reason": refusal})

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="peer api", daemon=True)

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
