"""Health judging (rise/fall and the two strategies' verdicts), pure."""

from __future__ import annotations

from cf_mysql_consul.proxy.health import HealthTracker, judge_sql, judge_status


def run(tracker: HealthTracker, results: list[bool]) -> list[bool | None]:
    states = []
    for ok in results:
        tracker = tracker.observe(ok)
        states.append(tracker.healthy)
    return states


def test_first_result_decides_then_rise_fall() -> None:
    assert run(HealthTracker(rise=2, fall=3), [True, False, False, True, False, False, False]) == [
        True,
        True,
        True,
        True,
        True,
        True,
        False,
    ]
    assert run(HealthTracker(rise=2, fall=1), [False, True, False, True, True, False]) == [
        False,
        False,
        False,
        False,
        True,
        False,
    ]


def test_galera_healthcheck_body() -> None:
    synced = {
        "wsrep_local_state": 4,
        "wsrep_local_state_comment": "Synced",
        "wsrep_local_index": 0,
        "healthy": True,
    }
    assert judge_status(synced, available_when_donor=False).ok
    donor = {**synced, "wsrep_local_state": 2, "wsrep_local_state_comment": "Donor/Desynced"}
    assert not judge_status(donor, available_when_donor=False).ok
    assert judge_status(donor, available_when_donor=True).ok
    assert not judge_status({**synced, "healthy": False}, available_when_donor=False).ok
    assert "unexpected" in judge_status(["x"], available_when_donor=False).detail


def test_sql_values() -> None:
    good = {"wsrep_local_state": "4", "wsrep_local_state_comment": "Synced", "wsrep_ready": "ON"}
    assert judge_sql(good, 0, available_when_donor=False).ok
    assert "read_only" in judge_sql(good, 1, available_when_donor=False).detail
    assert "wsrep_ready" in judge_sql({**good, "wsrep_ready": "OFF"}, 0, available_when_donor=False).detail
    assert "not a Galera" in judge_sql({}, 0, available_when_donor=False).detail
