"""The chaos schedule is a pure function of the seed: replayable, bounded, within the campaign."""

from __future__ import annotations

from itertools import pairwise

import pytest

from cf_mysql_consul_tools.chaos.schedule import KINDS, MAX_STEPS, ScheduleError, make_schedule
from cf_mysql_consul_tools.lab.manifest import load_lab_deployment

INSTANCES = [(i.name, i.group) for i in load_lab_deployment().instances]


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    first = make_schedule(7, 30, INSTANCES)
    assert first == make_schedule(7, 30, INSTANCES)
    assert first != make_schedule(8, 30, INSTANCES)


def test_a_campaign_draws_every_kind_and_plans_every_step_inside_its_minutes() -> None:
    steps = make_schedule(1, 30, INSTANCES)
    assert {s.kind for s in steps} == set(KINDS)
    assert [s.n for s in steps] == list(range(1, len(steps) + 1))
    assert all(0 < a.at_s < b.at_s < 30 * 60 for a, b in pairwise(steps))
    names = {n for n, _ in INSTANCES}
    for s in steps:
        if s.kind in ("kill", "pause", "partition"):
            assert s.target in names and 5 <= s.hold_s <= 25
        if s.kind == "partition":
            group = dict(INSTANCES)[s.target]
            assert s.cut_from == "rest" or (s.cut_from != group and s.cut_from in dict(INSTANCES).values())
        if s.kind == "consul_leader":
            assert s.target == "consul-leader"
        if s.kind == "rolling_deploy":
            assert s.target == "mysql" and s.bound_s == 60


def test_a_short_campaign_has_no_room_for_a_rolling_deploy_and_counts_are_bounded() -> None:
    short = make_schedule(11, 1.5, INSTANCES)
    assert short and all(s.kind != "rolling_deploy" for s in short)
    assert len(make_schedule(11, 100_000, INSTANCES, kinds=("pause",))) == MAX_STEPS
    assert make_schedule(11, 1, INSTANCES, kinds=("rolling_deploy",)) == []


def test_bad_options_name_themselves() -> None:
    with pytest.raises(ScheduleError, match="--minutes"):
        make_schedule(1, 0, INSTANCES)
    with pytest.raises(ScheduleError, match="--faults: explode"):
        make_schedule(1, 5, INSTANCES, kinds=("kill", "explode"))
