"""Active backend selection: lowest healthy index at start, then sticky, preferred honoured once."""

from __future__ import annotations

from cf_mysql_consul.proxy.selection import BackendHealth, SelectionConfig, SelectionSnapshot, decide

CFG = SelectionConfig(startup_delay_seconds=0.0)


def snap(health: dict[str, bool | None], active: str | None = None, preferred: str | None = None) -> SelectionSnapshot:
    backends = tuple(BackendHealth(name, i, h) for i, (name, h) in enumerate(health.items()))
    return SelectionSnapshot(backends, active, preferred, started_at=0.0)


def test_start_picks_lowest_healthy_index() -> None:
    decision = decide(snap({"mysql/0": True, "mysql/1": True}), 10.0, CFG)
    assert decision.active == "mysql/0"
    assert "lowest index" in decision.reason


def test_start_skips_unhealthy_lowest() -> None:
    assert decide(snap({"mysql/0": False, "mysql/1": True}), 10.0, CFG).active == "mysql/1"


def test_start_waits_for_every_first_result() -> None:
    decision = decide(snap({"mysql/0": None, "mysql/1": True}), 10.0, CFG)
    assert decision.active is None
    assert "mysql/0" in decision.reason and "starting up" in decision.reason


def test_start_waits_for_startup_delay() -> None:
    decision = decide(snap({"mysql/0": True}), 1.0, SelectionConfig(startup_delay_seconds=5.0))
    assert decision.active is None
    assert "startup_delay" in decision.reason
    assert decide(snap({"mysql/0": True}), 5.0, SelectionConfig(startup_delay_seconds=5.0)).active == "mysql/0"


def test_sticky_when_lower_index_comes_back() -> None:
    decision = decide(snap({"mysql/0": True, "mysql/1": True}, active="mysql/1"), 10.0, CFG)
    assert decision.active == "mysql/1"
    assert decision.reason.startswith("sticky")
    assert not decision.changed_from("mysql/1")


def test_fails_over_when_active_unhealthy() -> None:
    decision = decide(snap({"mysql/0": False, "mysql/1": True}, active="mysql/0"), 10.0, CFG)
    assert decision.active == "mysql/1"
    assert "mysql/0 is unhealthy" in decision.reason and decision.changed_from("mysql/0")


def test_no_healthy_backend() -> None:
    decision = decide(snap({"mysql/0": False, "mysql/1": False}, active="mysql/0"), 10.0, CFG)
    assert decision.active is None
    assert decision.reason == "mysql/0 is unhealthy and no backend is healthy"


def test_preferred_healthy_moves_and_is_consumed() -> None:
    decision = decide(snap({"mysql/0": True, "mysql/1": True}, active="mysql/0", preferred="mysql/1"), 10.0, CFG)
    assert decision.active == "mysql/1" and decision.preferred_consumed
    assert "preferred" in decision.reason


def test_preferred_chosen_at_start_over_lower_index() -> None:
    decision = decide(snap({"mysql/0": True, "mysql/1": True}, preferred="mysql/1"), 10.0, CFG)
    assert decision.active == "mysql/1"


def test_preferred_not_consumed_during_startup() -> None:
    decision = decide(snap({"mysql/0": None, "mysql/1": True}, preferred="mysql/1"), 10.0, CFG)
    assert decision.active is None and not decision.preferred_consumed


def test_preferred_unhealthy_keeps_current_and_says_so() -> None:
    decision = decide(snap({"mysql/0": True, "mysql/1": False}, active="mysql/0", preferred="mysql/1"), 10.0, CFG)
    assert decision.active == "mysql/0" and decision.preferred_consumed
    assert decision.reason == "preferred backend mysql/1 is unhealthy; staying on mysql/0"


def test_preferred_unknown_name_falls_back_to_lowest() -> None:
    decision = decide(snap({"mysql/0": True, "mysql/1": True}, preferred="mysql/9"), 10.0, CFG)
    assert decision.active == "mysql/0" and "unknown" in decision.reason


def test_sequence_never_switches_back() -> None:
    """Over a failover and recovery the active backend moves once and stays."""
    active = None
    history = []
    for health in (
        {"mysql/0": True, "mysql/1": True},
        {"mysql/0": False, "mysql/1": True},
        {"mysql/0": True, "mysql/1": True},
        {"mysql/0": True, "mysql/1": True},
    ):
        active = decide(snap(health, active=active), 10.0, CFG).active
        history.append(active)
    assert history == ["mysql/0", "mysql/1", "mysql/1", "mysql/1"]
