"""Polling for a condition with a deadline: the lab's only way to wait for something."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """A condition did not become true in time; the message says what was awaited and the last state."""


def wait_until(
    probe: Callable[[], T], *, timeout: float, what: str, interval: float = 0.1,
    describe: Callable[[], str] | None = None, abort: Callable[[], str | None] | None = None,
) -> T:
    """Call ``probe`` until it returns a truthy value (returned) or ``timeout`` seconds pass.

    Exceptions from ``probe`` count as "not yet" (a server that is still starting refuses
    connections); the last one is reported if the wait times out. ``abort`` returns a reason
    when waiting longer is pointless (the process died): then it fails at once with that reason.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        reason = abort() if abort else None
        if reason:
            raise WaitTimeout(f"gave up waiting for {what}: {reason}")
        if time.monotonic() >= deadline:
            detail = describe() if describe else (f"last error: {last_error}" if last_error else "")
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}" + (f" ({detail})" if detail else ""))
        time.sleep(interval)
