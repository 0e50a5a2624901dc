"""The lab's stand-in for cf-mysql's galera-healthcheck: ``GET :9200/api/v1/status``.

Answers ``{wsrep_local_state, wsrep_local_state_comment, wsrep_local_index, healthy}`` with
200 when the node is healthy (Synced, or Donor when ``available_when_donor``; and not
read-only), 503 otherwise, as cf-mysql's galera-healthcheck does. Each request asks MariaDB
afresh; when mysqld hangs the request hangs too, and the caller's timeout decides.
Run as ``python -m cf_mysql_consul_tools.lab.galera_healthcheck CONFIG.json``.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pymysql

from cf_mysql_consul.galera import DONOR, SYNCED


def node_status(config: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Query the node and return (HTTP status, body)."""
    try:
        conn = pymysql.connect(
            host=config["mysql_host"], user=config["mysql_user"], password=config["mysql_password"],
            connect_timeout=5, read_timeout=30,
        )
    except pymysql.MySQLError as exc:
        return 503, {"healthy": False, "error": f"cannot connect to mysql: {exc}"}
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SHOW GLOBAL STATUS WHERE Variable_name IN "
                "('wsrep_local_state','wsrep_local_state_comment','wsrep_local_index')"
            )
            status = {str(k): str(v) for k, v in cur.fetchall()}
            cur.execute("SELECT @@global.read_only")
            row = cur.fetchone()
            read_only = bool(row and int(row[0]))
    finally:
        conn.close()
    state = int(status.get("wsrep_local_state", "0") or 0)
    healthy = (state == SYNCED or (state == DONOR and bool(config.get("available_when_donor")))) and (
        not read_only or bool(config.get("available_when_read_only"))
    )
    body = {
        "wsrep_local_state": state,
        "wsrep_local_state_comment": status.get("wsrep_local_state_comment", ""),
        "wsrep_local_index": int(status.get("wsrep_local_index", "-1") or -1),
        "healthy": healthy,
    }
    return (200 if healthy else 503), body


def make_handler(config: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler class bound to ``config``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/api/v1/status", "/"):
                self.send_error(404, "try GET /api/v1/status")
                return
            code, body = node_status(config)
            payload = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per poll would drown the log

    return Handler


def main(argv: list[str]) -> int:
    """Serve until killed."""
    if len(argv) != 1:
        print("usage: python -m cf_mysql_consul_tools.lab.galera_healthcheck CONFIG.json", file=sys.stderr)
        return 2
    config = json.loads(Path(argv[0]).read_text())
    host, port = config["listen"].rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), make_handler(config))
    server.daemon_threads = True
    print(f"galera-healthcheck listening on {config['listen']}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
