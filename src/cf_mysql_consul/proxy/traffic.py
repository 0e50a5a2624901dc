"""Traffic on/off with an optional lease (dead-man switch): pure state transitions.

"Enabled with a lease of N seconds" turns itself off N seconds later unless renewed, so a
lock holder that dies or hangs cannot leave this proxy serving. Times are monotonic seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


class TrafficError(ValueError):
    """A requested traffic change is not allowed (the message says why and names the field)."""


@dataclass(frozen=True, slots=True)
class TrafficState:
    """Whether new clients are relayed, why, and until when (``lease_expires_at`` None = no lease)."""

    enabled: bool
    message: str
    lease_expires_at: float | None = None
    lease_seconds: float | None = None
    draining: bool = False


def initial(*, start_enabled: bool) -> TrafficState:
    """The state at process start: enabled (standalone) or disabled until the lock job enables it."""
    if start_enabled:
        return TrafficState(True, "enabled at start (start_enabled: true)")
    return TrafficState(False, "disabled at start (start_enabled: false): waiting for the lock holder")


def request(
    state: TrafficState, now: float, *, enabled: bool | None, message: str | None, lease_seconds: float | None
) -> TrafficState:
    """Apply an API request; raise ``TrafficError`` when it is not allowed.

    ``enabled`` None with ``lease_seconds`` renews the lease of enabled traffic. Enabling while
    draining is refused: the process is on its way down.
    """
    if lease_seconds is not None and lease_seconds <= 0:
        raise TrafficError(f"leaseSeconds must be > 0, got {lease_seconds}")
    state = evaluate(state, now)
    if enabled is None and lease_seconds is not None and not state.enabled:
        raise TrafficError("leaseSeconds without trafficEnabled=true renews a lease, but traffic is disabled")
    if enabled and state.draining:
        raise TrafficError("trafficEnabled=true refused: this proxy is draining for shutdown")
    new_enabled = state.enabled if enabled is None else enabled
    if not new_enabled:
        return TrafficState(
            False, message if message is not None else "disabled through the API", draining=state.draining
        )
    if lease_seconds is not None:
        expires: float | None = now + lease_seconds
    elif enabled is not None:
        expires = None
    else:
        expires = state.lease_expires_at
    text = (
        message if message is not None else (state.message if enabled is None else "enabled through the API")
    )
    return TrafficState(True, text, expires, lease_seconds if expires is not None else None, state.draining)


def evaluate(state: TrafficState, now: float) -> TrafficState:
    """Return ``state`` with an expired lease turned into disabled traffic."""
    if state.enabled and state.lease_expires_at is not None and now >= state.lease_expires_at:
        return TrafficState(
            False,
            f"lease of {state.lease_seconds:g} s expired without renewal (last message: {state.message})",
            draining=state.draining,
        )
    return state


def drain(state: TrafficState, reason: str) -> TrafficState:
    """Stop admitting new clients for shutdown; existing sessions are left to the caller."""
    return replace(
        state, enabled=False, message=reason, lease_expires_at=None, lease_seconds=None, draining=True
    )
