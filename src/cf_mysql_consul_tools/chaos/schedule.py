"""A chaos campaign's schedule: a pure function of the seed, the campaign's length and the deployment.

Faults come one after another, each after a quiet gap, held for a while and then undone:
``kill`` (SIGKILL every process of an instance; started again after the hold), ``pause``
(SIGSTOP an instance; SIGCONT after the hold), ``partition`` (an instance cut off from every
other instance, or from one instance group; healed after the hold), ``consul_leader`` (the Consul
Raft leader's instance SIGKILLed; started again after the hold) and ``rolling_deploy`` (of the
mysql group; it is its own hold). Targets are named here; a role (the Consul leader) is resolved
when the step runs. Each step is planned at an offset computed from estimates, and only steps
whose estimated end fits in the campaign are scheduled, so the same seed always gives the same
list; the runner starts a step at its offset or when the previous one is over, whichever is later.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cf_mysql_consul_tools.lab.lab import CONSUL_LEADER, REST

KINDS = ("kill", "pause", "partition", "consul_leader", "rolling_deploy")
WEIGHTS = {"kill": 3, "pause": 2, "partition": 4, "consul_leader": 1, "rolling_deploy": 1}
GAP_S = (5.0, 15.0)
HOLD_S = (5.0, 25.0)
RECOVERY_ESTIMATE_S = 20.0
DEPLOY_ESTIMATE_S = 180.0
DEPLOY_GROUP = "mysql"
MAX_STEPS = 500
BOUND_S = {"default": 30.0, "mysql": 60.0, "rolling_deploy": 60.0}
"""Recovery bounds after a fault is undone: one proxy serving, the DNS client writing, every Galera
node in the cluster and every consul-lock armed. Galera nodes rejoin by IST, which takes longer."""


class ScheduleError(ValueError):
    """The campaign cannot be scheduled as asked; the message names the option."""


@dataclass(frozen=True, slots=True)
class Step:
    """One fault of the campaign."""

    n: int
    kind: str
    target: str          # an instance name, consul-leader, or the deployed instance group
    cut_from: str        # partition only: rest, or an instance group
    at_s: float          # planned start, seconds into the campaign
    hold_s: float
    bound_s: float       # recovery bound once undone

    def describe(self) -> str:
        """``partition proxy/0 | consul, 12 s``."""
        if self.kind == "rolling_deploy":
            return f"rolling deploy of {self.target}"
        if self.kind == "partition":
            return f"partition {self.target} | {self.cut_from}, {self.hold_s:.0f} s"
        return f"{self.kind} {self.target}, {self.hold_s:.0f} s"

    def to_json(self) -> dict[str, Any]:
        """For the report."""
        return asdict(self)


def make_schedule(seed: int, minutes: float, instances: Sequence[tuple[str, str]],
                  kinds: Sequence[str] = KINDS) -> list[Step]:
    """The campaign's steps for ``seed``: ``instances`` are (name, group) pairs in manifest order."""
    if minutes <= 0:
        raise ScheduleError(f"--minutes must be > 0, got {minutes:g}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ScheduleError(f"--faults: {', '.join(unknown) or 'none given'}; choose from {', '.join(KINDS)}")
    names = [n for n, _ in instances]
    groups = list(dict.fromkeys(g for _, g in instances))
    if "rolling_deploy" in kinds and DEPLOY_GROUP not in groups:
        raise ScheduleError(f"a rolling deploy needs an instance group named {DEPLOY_GROUP}")
    rng = random.Random(seed)
    budget = minutes * 60
    steps: list[Step] = []
    t = 0.0
    for _ in range(MAX_STEPS * 4):  # bounded draws, even when only a deploy is asked for and none fits
        if len(steps) >= MAX_STEPS:
            break
        kind = rng.choices(list(kinds), weights=[WEIGHTS[k] for k in kinds])[0]
        gap = round(rng.uniform(*GAP_S), 1)
        hold = round(rng.uniform(*HOLD_S), 1)
        target, cut_from = "", ""
        if kind in ("kill", "pause", "partition"):
            target = rng.choice(names)
        if kind == "partition":
            own = next(g for n, g in instances if n == target)
            others = [g for g in groups if g != own]
            cut_from = REST if not others or rng.random() < 0.5 else rng.choice(others)
        if kind == "consul_leader":
            target = CONSUL_LEADER
        if kind == "rolling_deploy":
            target, hold = DEPLOY_GROUP, 0.0
        group = next((g for n, g in instances if n == target), "")
        bound = BOUND_S["rolling_deploy"] if kind == "rolling_deploy" else BOUND_S.get(group, BOUND_S["default"])
        duration = gap + (DEPLOY_ESTIMATE_S if kind == "rolling_deploy" else hold + RECOVERY_ESTIMATE_S)
        if t + duration > budget:
            if kind == "rolling_deploy":
                continue  # too long for what is left: draw again (the draws stay the seed's)
            break
        steps.append(Step(len(steps) + 1, kind, target, cut_from, round(t + gap, 1), hold, bound))
        t += duration
    return steps
