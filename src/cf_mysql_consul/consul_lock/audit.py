"""consul-lock's audit log: one JSON line per activation, deactivation and lock event.

Each line carries wall time, monotonic time, LockIndex, session and reason. Reading the logs
back and checking that no two proxies served at once is tooling (``cf_mysql_consul_tools.serving``).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from typing import Any, TextIO


class AuditLog:
    """Append-only JSON lines, flushed per line."""

    def __init__(self, path: str, instance: str) -> None:
        self.path = path
        self.instance = instance
        self._file: TextIO | None = None
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._file = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        except OSError:
            self._file = None

    def write(self, event: str, reason: str, *, lock_index: int | None, session: str | None,
              **fields: Any) -> dict[str, Any]:
        """Record one event; returns the entry (also for the process log)."""
        now = time.time()
        entry = {
            "ts": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "monotonic": round(time.monotonic(), 6), "instance": self.instance, "event": event,
            "lock_index": lock_index, "session": session, "reason": reason, **fields,
        }
        if self._file is not None:
            self._file.write(json.dumps(entry, default=str) + "\n")
        return entry
