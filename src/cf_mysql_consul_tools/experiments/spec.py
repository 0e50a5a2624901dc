"""Experiment definitions: YAML data files under ``definitions/``, one per scenario.

A definition names its topology (a manifest, BOSH ops-file operations, whether the Consul lock
must run, how clients find MySQL), the workload (benchmark-bbs keys), the faults (each at a
point in inserted LRPs during seeding, or seconds into the measurement), and what the verdict
expects. ``scaled(spec, F)`` multiplies the LRP count and every fault point by ``F``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cf_mysql_consul_tools.bosh.ops import Operation, OpsError, parse_ops
from cf_mysql_consul_tools.yamlfile import read_yaml

DEFINITIONS = Path(__file__).parent / "definitions"
ACTIONS = ("kill", "start", "stop", "pause", "resume", "rolling_deploy", "partition", "heal")
TARGETS = ("master_mysql", "active_proxy", "active_proxy_vm", "consul_leader")
CLIENTS = ("auto", "fixed", "dns")
# Five times the seed's 50,000 LRPs. A larger run is a mistyped --scale, not an experiment: it
# would seed for days on the lab.
MAX_SCALE = 5.0


class SpecError(ValueError):
    """A definition is invalid; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: when (``inserted`` LRPs during seeding, or ``measurement_seconds``), what, on what.

    ``target`` is ``master_mysql`` (the node the active proxy sends clients to),
    ``active_proxy`` (its proxy process), ``active_proxy_vm`` (every process of that instance),
    ``consul_leader`` (the Consul Raft leader's instance), an instance name (``mysql/1``), or the
    ``id`` of an earlier fault (the same instance). A ``partition`` cuts its ``target`` (any of
    those, or instance-group names, comma-separated) off from ``cut_from`` (the same kinds of names;
    empty: every other instance); ``heal`` lifts every partition and takes no target.
    A ``rolling_deploy`` may keep each node down ``downtime_seconds`` (a VM recreate).
    """

    id: str
    action: str
    target: str = ""
    inserted: int | None = None
    measurement_seconds: float | None = None
    process: str | None = None
    groups: tuple[str, ...] = ()
    cut_from: tuple[str, ...] = ()
    downtime_seconds: float = 0.0

    @property
    def when(self) -> str:
        """Human form of the trigger."""
        if self.inserted is not None:
            return f"at {self.inserted} inserted LRPs"
        return f"{self.measurement_seconds:g} s into the measurement"


@dataclass(frozen=True, slots=True)
class Topology:
    """What the lab must look like: ``lock`` True (consul-lock elects), False (no lock), or None (either).

    ``ops`` are ops-file operations (go-patch) applied to the manifest when the runner brings its own lab up.
    """

    manifest: str | None = None
    ops: tuple[Operation, ...] = ()
    lock: bool | None = None
    clients: str = "auto"  # fixed | dns | auto (dns when the lock runs, else fixed)
    proxies: tuple[str, ...] = ("proxy/0", "proxy/1")


@dataclass(frozen=True, slots=True)
class Expect:
    """Verdict settings beyond benchmark-bbs's error tolerance."""

    max_op_seconds: float | None = None
    max_actual_error_rate: float | None = None
    rejoin_timeout_seconds: float = 180.0


EXPECT_KEYS = tuple(Expect.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Experiment:
    """One scenario."""

    name: str
    title: str
    description: str
    seed_section: str
    topology: Topology
    workload: dict[str, Any]
    faults: tuple[Fault, ...]
    expect: Expect = field(default_factory=Expect)
    source: Path | None = None

    @property
    def needs_rolling_deploy(self) -> bool:
        """True when a fault is a rolling deploy (the lab's ``deploy.rolling_deploy``)."""
        return any(f.action == "rolling_deploy" for f in self.faults)


def _fault(raw: Any, n: int, where: str, known: set[str]) -> Fault:
    if not isinstance(raw, dict) or not isinstance(raw.get("at") or {}, dict):
        raise SpecError(f"{where}: faults[{n}] is a mapping with action, target and at: {{inserted: N}} or "
                        f"at: {{measurement_seconds: S}}, got {raw!r}")
    at = raw.get("at") or {}
    action = str(raw.get("action", ""))
    if action not in ACTIONS:
        raise SpecError(f"{where}: faults[{n}].action must be one of {', '.join(ACTIONS)}, got {action!r}")
    target = str(raw.get("target", ""))
    if action == "partition" and not target:
        raise SpecError(f"{where}: faults[{n}].target names the instances to cut off (e.g. active_proxy_vm); "
                        "'from' names the other side (default: every other instance)")
    if action not in ("rolling_deploy", "partition", "heal") and not (
            target in TARGETS or target in known or "/" in target):
        raise SpecError(f"{where}: faults[{n}].target {target!r} is not {', '.join(TARGETS)}, an instance "
                        f"name, or the id of an earlier fault ({', '.join(sorted(known)) or 'none yet'})")
    cut_from = raw.get("from") or ()
    if isinstance(cut_from, str):
        cut_from = [c.strip() for c in cut_from.split(",") if c.strip()]
    if cut_from and action != "partition":
        raise SpecError(f"{where}: faults[{n}].from belongs to a partition, not to {action}")
    inserted, seconds = at.get("inserted"), at.get("measurement_seconds")
    if (inserted is None) == (seconds is None):
        raise SpecError(f"{where}: faults[{n}].at needs exactly one of inserted / measurement_seconds")
    downtime = raw.get("downtime_seconds", 0)
    if downtime and action != "rolling_deploy":
        raise SpecError(f"{where}: faults[{n}].downtime_seconds belongs to a rolling_deploy, not {action!r}")
    if isinstance(downtime, bool) or not isinstance(downtime, int | float) or downtime < 0:
        raise SpecError(f"{where}: faults[{n}].downtime_seconds must be a number of seconds >= 0, got {downtime!r}")
    try:
        point = (int(inserted), None) if inserted is not None else (None, float(seconds or 0))
    except (TypeError, ValueError):
        raise SpecError(f"{where}: faults[{n}].at takes a number, got {at!r}") from None
    return Fault(id=str(raw.get("id", f"fault{n}")), action=action, target=target, inserted=point[0],
                 measurement_seconds=point[1], process=raw.get("process"), groups=tuple(raw.get("groups") or ()),
                 cut_from=tuple(str(c) for c in cut_from), downtime_seconds=float(downtime))


def parse(raw: dict[str, Any], source: Path | None = None) -> Experiment:
    """Check and convert one definition's YAML data."""
    where = str(source or "experiment")
    if not isinstance(raw, dict) or "name" not in raw:
        raise SpecError(f"{where}: a definition is a mapping with at least 'name', 'workload' and 'faults'")
    for key, kind in (("topology", dict), ("workload", dict), ("faults", list), ("expect", dict)):
        if not isinstance(raw.get(key) or kind(), kind):
            raise SpecError(f"{where}: {key} is a {'mapping' if kind is dict else 'list'}, got {raw[key]!r}")
    topo = raw.get("topology") or {}
    if topo.get("clients", "auto") not in CLIENTS:
        raise SpecError(f"{where}: topology.clients must be {', '.join(CLIENTS)}, got {topo.get('clients')!r}")
    faults: list[Fault] = []
    for n, f in enumerate(raw.get("faults") or []):
        faults.append(_fault(f, n, where, {x.id for x in faults}))
    expect = raw.get("expect") or {}
    unknown = sorted(set(expect) - set(EXPECT_KEYS))
    if unknown:
        raise SpecError(f"{where}: unknown key expect.{unknown[0]}; expect takes {', '.join(EXPECT_KEYS)}")
    try:
        ops = tuple(parse_ops(topo.get("ops"), source=f"{where}: topology.ops"))
    except OpsError as exc:
        raise SpecError(str(exc)) from None
    return Experiment(
        name=str(raw["name"]), title=str(raw.get("title", raw["name"])),
        description=str(raw.get("description", "")).strip(), seed_section=str(raw.get("seed_section", "")),
        topology=Topology(manifest=topo.get("manifest"), ops=ops, lock=topo.get("lock"),
                          clients=str(topo.get("clients", "auto")),
                          proxies=tuple(topo.get("proxies") or ("proxy/0", "proxy/1"))),
        workload=dict(raw.get("workload") or {}), faults=tuple(faults),
        expect=Expect(**expect), source=source,
    )


def load(name_or_path: str | Path) -> Experiment:
    """A definition by name (``exp2``) or path."""
    path = Path(name_or_path)
    if not path.exists():
        path = DEFINITIONS / f"{name_or_path}.yml"
    if not path.exists():
        raise SpecError(f"no experiment {name_or_path!r}; known: {', '.join(names())}")
    return parse(read_yaml(path, "experiment definition", SpecError), path)


def names() -> list[str]:
    """Every definition's name, sorted."""
    return sorted(p.stem for p in DEFINITIONS.glob("*.yml"))


def scaled(spec: Experiment, factor: float) -> Experiment:
    """The same experiment with ``desired_lrps`` and every ``inserted`` point multiplied by ``factor``,
    and a rolling deploy's ``downtime_seconds`` too when ``factor`` is below 1 (the writes a node
    misses while down shrink with the run)."""
    if not 0 < factor <= MAX_SCALE:
        raise SpecError(f"--scale must be above 0 and at most {MAX_SCALE:g} ({MAX_SCALE:g} x {spec.name}'s "
                        f"{int(spec.workload.get('desired_lrps', 5000)):,} LRPs), got {factor:g}")
    workload = dict(spec.workload)
    workload["desired_lrps"] = max(1, round(int(workload.get("desired_lrps", 5000)) * factor))
    faults = tuple(replace(f, inserted=max(1, round(f.inserted * factor)) if f.inserted is not None else None,
                           downtime_seconds=f.downtime_seconds * min(factor, 1.0))
                   for f in spec.faults)
    return replace(spec, workload=workload, faults=faults)
