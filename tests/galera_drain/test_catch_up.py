"""pre-start's catch-up verdict: pure, no I/O."""

from __future__ import annotations

from cf_mysql_consul.galera_drain.config import CatchUpConfig
from cf_mysql_consul.galera_drain.pre_start import decide_catch_up, has_galera_state

CFG = CatchUpConfig(mode="auto", mysqld_argv=("mysqld",), startup_timeout_seconds=12)
MB = 2**20
RECORD = {"stopped_at": 1000.0, "writes_per_second": 400.0, "writeset_bytes": 1100.0, "gcache_bytes": 16 * MB}


def verdict(**kw: object) -> tuple[bool, str]:
    args: dict[str, object] = {"record": RECORD, "has_state": True, "peers_healthy": True, "now": 1001.0,
                               "worst_rejoin": None, "config": CFG, **kw}
    d = decide_catch_up(**args)  # type: ignore[arg-type]
    return d.catch_up, d.reason


def test_short_downtime_within_the_gcache_expects_ist_and_skips() -> None:
    ok, why = verdict()
    assert not ok and "IST expected" in why


def test_writes_beyond_half_the_gcache_mean_sst_and_catch_up() -> None:
    ok, why = verdict(now=1030.0)  # 40 s x 400/s x 1.1 KB = 17 MB > 8 MB
    assert ok and "IST unlikely" in why and "gcache 16 MB" in why


def test_unknown_gap_fresh_datadir_and_slow_measured_rejoin_catch_up() -> None:
    assert verdict(record=None)[0]
    assert verdict(has_state=False)[0]
    ok, why = verdict(worst_rejoin=7.0)
    assert ok and "start timeout (12 s)" in why
    assert not verdict(worst_rejoin=5.0)[0]


def test_nothing_to_join_or_never_skips_and_always_catches_up() -> None:
    assert not verdict(record=None, peers_healthy=False)[0]
    assert not verdict(record=None, config=CatchUpConfig(mode="never"))[0]
    assert verdict(config=CatchUpConfig(mode="always", mysqld_argv=("mysqld",)))[0]


def test_galera_state_is_read_from_grastate(tmp_path: object) -> None:
    from pathlib import Path

    d = Path(str(tmp_path))
    assert not has_galera_state(str(d))
    (d / "grastate.dat").write_text("version: 2.1\nuuid:    00000000-0000-0000-0000-000000000000\nseqno: -1\n")
    assert not has_galera_state(str(d))
    (d / "grastate.dat").write_text("version: 2.1\nuuid:    9d29b851-e8f9-11f1-8599-7abcb5dcebc8\nseqno: 42\n")
    assert has_galera_state(str(d))
