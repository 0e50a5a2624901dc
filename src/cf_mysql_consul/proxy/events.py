"""Structured logging (one JSON object per line) and the append-only event log.

Every state change (backend up/down, switch with severed count, traffic on/off with reason)
goes to both: stdout for operators, and ``event_log_path`` as JSON lines that tests read to
prove, e.g., that a proxy never had sessions on two backends at once.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)


def _utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, and any ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _utc_iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stdout by default) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class EventLog:
    """Append-only JSON-lines record of state changes; each line is flushed when written."""

    def __init__(self, path: str, instance_name: str) -> None:
        self.path = path
        self.instance_name = instance_name
        self._file: TextIO | None = None
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._file = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        except OSError as exc:
            log.error("cannot open event log %s: %s; events go to the log only", path, exc)

    def emit(self, event: str, message: str, **fields: Any) -> None:
        """Record ``event`` with a human ``message`` and structured ``fields``."""
        entry = {
            "ts": _utc_iso(time.time()),
            "monotonic": round(time.monotonic(), 6),
            "instance": self.instance_name,
            "event": event,
            "message": message,
            **fields,
        }
        log.info(message, extra={"fields": {"event": event, **fields}})
        if self._file is not None:
            self._file.write(json.dumps(entry, default=str) + "\n")

    def close(self) -> None:
        """Close the file; later events only reach the log."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The entries (JSON objects) of an event log or any JSON-lines file, for metrics, tools and
    tests: a missing file has none; a torn line (a writer killed mid-line) or a line that is not
    an object is skipped."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict):
            entries.append(item)
    return entries
