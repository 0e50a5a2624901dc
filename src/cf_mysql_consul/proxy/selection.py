"""Which backend is active: a pure decision on one immutable snapshot (no I/O, no clock).

Rules, in order:
1. Before start-up is over (every backend has a health result and ``startup_delay`` has passed)
   nothing is chosen, so the lowest index wins fairly instead of the fastest answer.
2. A pending preferred backend (set through the API) that is healthy becomes active. The
   preference is consumed by that decision: when that node later fails and comes back, it does
   not pull traffic back.
3. STICKY: a healthy active backend stays active, whatever else came back.
4. Otherwise the healthy backend with the lowest index; none healthy -> no active backend.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackendHealth:
    """Health of one backend as the monitor last judged it; ``healthy`` None = no result yet."""

    name: str
    index: int
    healthy: bool | None


@dataclass(frozen=True, slots=True)
class SelectionSnapshot:
    """Everything the decision reads, captured at one instant."""

    backends: tuple[BackendHealth, ...]
    active: str | None
    preferred: str | None
    started_at: float


@dataclass(frozen=True, slots=True)
class SelectionConfig:
    """Tunables of the decision."""

    startup_delay_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict: the backend to be active (None = none), and why, in words."""

    active: str | None
    reason: str
    preferred_consumed: bool = False

    def changed_from(self, previous: str | None) -> bool:
        """True when this decision moves away from ``previous``."""
        return self.active != previous


def _names(backends: list[BackendHealth]) -> str:
    return ", ".join(b.name for b in backends) or "none"


def decide(snapshot: SelectionSnapshot, now: float, config: SelectionConfig) -> Decision:
    """Return the active backend for ``snapshot`` at monotonic time ``now`` with a reason."""
    by_name = {b.name: b for b in snapshot.backends}
    healthy = sorted((b for b in snapshot.backends if b.healthy), key=lambda b: b.index)
    current = by_name.get(snapshot.active) if snapshot.active else None

    if current is None:
        unknown = [b for b in snapshot.backends if b.healthy is None]
        waited = now - snapshot.started_at
        if waited < config.startup_delay_seconds:
            return Decision(
                None, f"starting up: {config.startup_delay_seconds - waited:.1f} s of startup_delay left"
            )
        if unknown:
            return Decision(None, f"starting up: waiting for the first health result of {_names(unknown)}")

    preferred = by_name.get(snapshot.preferred) if snapshot.preferred else None
    if snapshot.preferred is not None:
        if preferred is None:
            reason = f"preferred backend {snapshot.preferred} is unknown"
        elif not preferred.healthy:
            reason = f"preferred backend {preferred.name} is unhealthy"
        elif current is not None and current.name == preferred.name:
            return Decision(
                preferred.name, f"staying on preferred backend {preferred.name}", preferred_consumed=True
            )
        else:
            return Decision(
                preferred.name,
                f"switching to preferred backend {preferred.name} (requested through the API)",
                preferred_consumed=True,
            )
        if current is not None and current.healthy:
            return Decision(current.name, f"{reason}; staying on {current.name}", preferred_consumed=True)
        if healthy:
            return Decision(
                healthy[0].name,
                f"{reason}; choosing {healthy[0].name}, the healthy backend with the lowest index",
                preferred_consumed=True,
            )
        return Decision(None, f"{reason}; no healthy backend", preferred_consumed=True)

    if current is not None and current.healthy:
        return Decision(current.name, f"sticky: {current.name} is still healthy")
    if not healthy:
        lost = f"{current.name} is unhealthy and " if current is not None else ""
        return Decision(None, f"{lost}no backend is healthy")
    if current is not None:
        return Decision(
            healthy[0].name,
            f"{current.name} is unhealthy; failing over to {healthy[0].name}, "
            "the healthy backend with the lowest index",
        )
    return Decision(healthy[0].name, f"choosing {healthy[0].name}, the healthy backend with the lowest index")
