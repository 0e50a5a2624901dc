"""Traffic on/off with an optional lease (dead-man switch): pure state transitions.

"Enabled with a lease of N seconds" turns itself off N seconds later unless renewed, so a
lock holder that dies or hangs cannot leave this proxy serving. Times are monotonic seconds.

A colocated lock holder also sends ``lease_until``, the end of the lease in its own accounting
(CLOCK_MONOTONIC is one clock for every process of a host): the lease never outlasts it, and a
request that arrives after it (a proxy that was paused with the request queued) is refused, so
a late delivery cannot start serving after another proxy took over.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

STALE_LEASE = "arrived after the lease it grants had ended"
MAX_CLOCK_SKEW_SECONDS = 60.0
"""A ``lease_until`` further ahead than lease + this is not this host's monotonic clock."""


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
    state: TrafficState, now: float, *, enabled: bool | None, message: str | None, lease_seconds: float | None,
    lease_until: float | None = None,
) -> TrafficState:
    """Apply an API request; raise ``TrafficError`` when it is not allowed.

    ``enabled`` None with ``lease_seconds`` renews the lease of enabled traffic. Enabling while
    draining is refused: the process is on its way down. ``lease_until`` caps the lease at that
    monotonic instant and refuses the request once it has passed.
    """
    if lease_seconds is not None and lease_seconds <= 0:
        raise TrafficError(f"leaseSeconds must be > 0, got {lease_seconds}")
    if lease_until is not None:
        if lease_seconds is None or enabled is False:
            raise TrafficError("leaseUntilMonotonic needs leaseSeconds and traffic enabled")
        if lease_until <= now:
            raise TrafficError(f"refused: the request {STALE_LEASE} ({now - lease_until:.3f} s ago); "
                               "traffic stays as it was")
        if lease_until > now + lease_seconds + MAX_CLOCK_SKEW_SECONDS:
            raise TrafficError(f"leaseUntilMonotonic is {lease_until - now:.0f} s ahead of this host's monotonic "
                               "clock: send it only from a process on the same host (the colocated consul-lock)")
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
        expires: float | None = now + lease_seconds if lease_until is None else min(now + lease_seconds, lease_until)
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
