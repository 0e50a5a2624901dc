"""Stand-in for galera-healthcheck, run as its own process (so a busy test cannot starve it).

``python health_stand_in.py PORT HOST...`` serves ``GET /api/v1/status`` on every HOST:PORT.
``POST /control?state=synced|down|hang`` on a host sets that host's answer: ``down`` reports
state 1 (Joining, unhealthy); ``hang`` holds requests unanswered, like a SIGSTOPped node.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

STATES = ("synced", "down", "hang")
changed = threading.Condition()
states: dict[str, str] = {}


def serve(host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            with changed:
                changed.wait_for(lambda: states[host] != "hang", timeout=60)
                synced = states[host] == "synced"
            self._answer(
                200,
                {
                    "wsrep_local_state": 4 if synced else 1,
                    "wsrep_local_state_comment": "Synced" if synced else "Joining",
                    "wsrep_local_index": 0,
                    "healthy": synced,
                },
            )

        def do_POST(self) -> None:
            state = parse_qs(urlparse(self.path).query).get("state", [""])[0]
            if state not in STATES:
                self._answer(400, {"error": f"state must be one of {STATES}"})
                return
            with changed:
                states[host] = state
                changed.notify_all()
            self._answer(200, {"host": host, "state": state})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    port = int(sys.argv[1])
    servers = []
    for host in sys.argv[2:]:
        states[host] = "synced"
        servers.append(serve(host, port))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
