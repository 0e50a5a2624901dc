"""A BOSH v2 deployment manifest as the model sees it: instance groups flattened into instances.

:func:`interpolate` is ``bosh int``: ops files (:mod:`.ops`), then ``((variables))``
(:mod:`.variables`). :func:`parse` turns the result into a :class:`Deployment`: every instance
(``group/index``) with its jobs, its address (a static IP, or none until a director assigns one)
and a stable id. A job's properties follow the director's rule: the job's own ``properties``
when the job has that key, else the instance group's over the manifest's top-level ones.
:func:`deploy_problems` lists what ``bosh deploy`` needs beyond that (stemcells, azs, vm types).
Every error names the field and the fix.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cf_mysql_consul_tools import yamlfile
from cf_mysql_consul_tools.bosh.ops import Operation, apply_ops, load_ops_file
from cf_mysql_consul_tools.bosh.variables import VarsStore, resolve


class ManifestError(ValueError):
    """The manifest is not usable; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class JobRef:
    """One job of an instance group, as the manifest lists it (``consumes``/``provides`` as written).

    ``shared_properties``: the job has no ``properties`` of its own and sees the instance group's
    (over the manifest's), which every job of the group shares.
    """

    name: str
    release: str
    properties: dict[str, Any]
    consumes: dict[str, Any] = field(default_factory=dict)
    provides: dict[str, Any] = field(default_factory=dict)
    shared_properties: bool = False


@dataclass(frozen=True, slots=True)
class UpdatePolicy:
    """An ``update`` block (watch times in milliseconds)."""

    canaries: int = 1
    max_in_flight: int = 1
    canary_watch_time: tuple[int, int] = (1000, 30000)
    update_watch_time: tuple[int, int] = (1000, 30000)
    serial: bool = True


@dataclass(frozen=True, slots=True)
class Instance:
    """One instance (``group/index``); ``address`` is "" until a director assigns one."""

    group: str
    index: int
    address: str
    id: str
    jobs: tuple[JobRef, ...]
    az: str = "z1"
    network: str = "default"

    @property
    def name(self) -> str:
        """``group/index``, as BOSH prints it."""
        return f"{self.group}/{self.index}"

    @property
    def slug(self) -> str:
        """``group-index``: safe for file names and Consul node names."""
        return f"{self.group}-{self.index}"

    def job(self, name: str) -> JobRef | None:
        """The job called ``name`` on this instance, if it has one."""
        return next((j for j in self.jobs if j.name == name), None)


@dataclass(frozen=True, slots=True)
class InstanceGroup:
    """An instance group: its jobs, size, update block (the manifest's under its own) and lifecycle."""

    name: str
    instances: int
    jobs: tuple[JobRef, ...]
    update: UpdatePolicy
    lifecycle: str = "service"
    azs: tuple[str, ...] = ()
    network: str = "default"


@dataclass(frozen=True, slots=True)
class Deployment:
    """A parsed manifest: instance groups, and their instances in manifest order.

    ``manifest`` is the interpolated document it was parsed from; ``use_dns_addresses`` is the
    manifest's ``features.use_dns_addresses`` (links then carry BOSH DNS names, not IPs).
    """

    name: str
    instances: tuple[Instance, ...]
    update: UpdatePolicy
    groups: tuple[str, ...]
    source: Path
    instance_groups: tuple[InstanceGroup, ...] = ()
    manifest: dict[str, Any] = field(default_factory=dict)
    use_dns_addresses: bool = False

    def instance(self, name: str) -> Instance:
        """Look up ``group/index`` (or ``group`` when it has one instance)."""
        for inst in self.instances:
            if name in (inst.name, inst.slug) or (name == inst.group and self.group_size(inst.group) == 1):
                return inst
        known = ", ".join(i.name for i in self.instances)
        raise ManifestError(f"unknown instance '{name}' in deployment {self.name}; known: {known}")

    def group(self, group: str) -> tuple[Instance, ...]:
        """All instances of an instance group, by index."""
        found = tuple(i for i in self.instances if i.group == group)
        if not found:
            raise ManifestError(
                f"unknown instance group '{group}' in deployment {self.name}; known: {', '.join(self.groups)}"
            )
        return found

    def instance_group(self, name: str) -> InstanceGroup:
        """The instance group called ``name``."""
        for group in self.instance_groups:
            if group.name == name:
                return group
        raise ManifestError(f"unknown instance group '{name}' in deployment {self.name}; known: "
                            f"{', '.join(g.name for g in self.instance_groups)}")

    def group_size(self, group: str) -> int:
        """How many instances the group has."""
        return sum(1 for i in self.instances if i.group == group)

    def with_job(self, job: str) -> tuple[Instance, ...]:
        """Every instance that runs ``job``."""
        return tuple(i for i in self.instances if i.job(job) is not None)

    def without_errands(self) -> Deployment:
        """The deployment without its errand instance groups (what runs all the time)."""
        errands = {g.name for g in self.instance_groups if g.lifecycle == "errand"}
        return replace(self, instances=tuple(i for i in self.instances if i.group not in errands),
                       groups=tuple(g for g in self.groups if g not in errands),
                       instance_groups=tuple(g for g in self.instance_groups if g.name not in errands))

    def with_dynamic_addresses(self) -> Deployment:
        """Every instance without an address gets one, as bosh-lite's director would hand them out
        (``10.244.<100 + group position>.<index + 2>``): for rendering without a director."""
        position = {g: n for n, g in enumerate(self.groups)}
        return replace(self, instances=tuple(
            i if i.address else replace(i, address=f"10.244.{position[i.group] + 100}.{i.index + 2}")
            for i in self.instances))


def instance_id(deployment: str, group: str, index: int) -> str:
    """A stable id for ``group/index`` of ``deployment`` (a director would make a random one)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bosh://{deployment}/{group}/{index}"))


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping or mapping[key] is None:
        raise ManifestError(f"{where}: '{key}' is required")
    return mapping[key]


def _watch_time(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    parts = str(value).split("-")
    try:
        low, high = (int(parts[0]), int(parts[-1]))
    except ValueError as exc:
        raise ManifestError(f"{where}: expected milliseconds like 1000-30000, got {value!r}") from exc
    return (low, high)


def _update(raw: Any, base: UpdatePolicy, where: str) -> UpdatePolicy:
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: 'update' must be a map (canaries, max_in_flight, watch times)")
    try:
        return UpdatePolicy(
            canaries=int(raw.get("canaries", base.canaries)),
            max_in_flight=int(raw.get("max_in_flight", base.max_in_flight)),
            canary_watch_time=_watch_time(raw["canary_watch_time"], f"{where}.canary_watch_time")
            if "canary_watch_time" in raw else base.canary_watch_time,
            update_watch_time=_watch_time(raw["update_watch_time"], f"{where}.update_watch_time")
            if "update_watch_time" in raw else base.update_watch_time,
            serial=bool(raw.get("serial", base.serial)),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"{where}: canaries and max_in_flight must be whole numbers ({exc})") from None


def _merge(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    """``high`` over ``low``, maps merged key by key."""
    out = dict(low)
    for key, value in high.items():
        out[key] = _merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def _map(value: Any, where: str, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: '{key}' must be a map")
    return dict(value)


def _jobs(group: dict[str, Any], where: str, releases: set[str] | None,
          shared: dict[str, Any]) -> tuple[JobRef, ...]:
    raw = _require(group, "jobs", where)
    if not isinstance(raw, list):
        raise ManifestError(f"{where}: 'jobs' must be a list of {{name, release, properties}}")
    jobs: list[JobRef] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ManifestError(f"{where}.jobs: every job is a map with name and release, got {entry!r}")
        name = str(_require(entry, "name", f"{where}.jobs[]"))
        job_where = f"{where}.jobs.{name}"
        release = str(_require(entry, "release", job_where))
        if releases is not None and release not in releases:
            raise ManifestError(f"{job_where}: release '{release}' is not under 'releases'; add "
                                f"{{name: {release}, version: latest}} there")
        if any(j.name == name for j in jobs):
            raise ManifestError(f"{job_where}: the job is listed twice in the instance group")
        own = entry.get("properties")
        properties = _map(own, job_where, "properties") if "properties" in entry else shared
        jobs.append(JobRef(name=name, release=release, properties=properties,
                           consumes=_map(entry.get("consumes"), job_where, "consumes"),
                           provides=_map(entry.get("provides"), job_where, "provides"),
                           shared_properties="properties" not in entry))
    return tuple(jobs)


def parse(raw: Any, source: Path) -> Deployment:
    """Turn an interpolated manifest into a :class:`Deployment`; ManifestError naming the field when
    something the model needs is missing or inconsistent."""
    if not isinstance(raw, dict):
        raise ManifestError(f"{source}: a manifest is a YAML map with 'name' and 'instance_groups'")
    name = str(_require(raw, "name", str(source)))
    release_entries = raw.get("releases")
    releases = None if release_entries is None else {
        str(r.get("name")) for r in release_entries if isinstance(r, dict)}
    update = _update(raw.get("update"), UpdatePolicy(), "update")
    top_properties = _map(raw.get("properties"), str(source), "properties")
    features = _map(raw.get("features"), str(source), "features")
    groups_raw = _require(raw, "instance_groups", str(source))
    if not isinstance(groups_raw, list):
        raise ManifestError(f"{source}: 'instance_groups' must be a list")
    instances: list[Instance] = []
    groups: list[InstanceGroup] = []
    seen_ips: dict[str, str] = {}
    for g in groups_raw:
        if not isinstance(g, dict):
            raise ManifestError(f"instance_groups: every instance group is a map, got {g!r}")
        gname = str(_require(g, "name", "instance_groups[]"))
        where = f"instance_groups.{gname}"
        if any(x.name == gname for x in groups):
            raise ManifestError(f"{where}: the instance group is defined twice")
        count = _require(g, "instances", where)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ManifestError(f"{where}: 'instances' must be a whole number, got {count!r}")
        networks = _require(g, "networks", where)
        if not isinstance(networks, list) or not networks or not all(isinstance(n, dict) for n in networks):
            raise ManifestError(f"{where}: 'networks' must list at least one network ({{name: default}})")
        ips = [str(ip) for net in networks for ip in net.get("static_ips") or []]
        if ips and len(ips) < count:
            raise ManifestError(f"{where}: {count} instances but {len(ips)} static_ips; list one address per instance")
        shared = _merge(top_properties, _map(g.get("properties"), where, "properties"))
        jobs = _jobs(g, where, releases, shared)
        azs = tuple(str(a) for a in g.get("azs") or ())
        network = str(networks[0].get("name") or "default")
        group = InstanceGroup(gname, count, jobs, _update(g.get("update"), update, f"{where}.update"),
                              str(g.get("lifecycle") or "service"), azs, network)
        for index in range(count):
            ip = ips[index] if ips else ""
            if ip:
                if ip in seen_ips:
                    raise ManifestError(f"{where}: address {ip} is already used by {seen_ips[ip]}")
                seen_ips[ip] = f"{gname}/{index}"
            instances.append(Instance(gname, index, ip, instance_id(name, gname, index), jobs,
                                      az=azs[index % len(azs)] if azs else "z1", network=network))
        groups.append(group)
    return Deployment(name=name, instances=tuple(instances), update=update, groups=tuple(g.name for g in groups),
                      source=source, instance_groups=tuple(groups), manifest=raw,
                      use_dns_addresses=bool(features.get("use_dns_addresses", False)))


def read_yaml(path: Path, what: str = "manifest") -> Any:
    """A YAML file's data; ManifestError naming the file when it is missing or not YAML."""
    return yamlfile.read_yaml(path, what, ManifestError)


def interpolate(manifest: Path | dict[str, Any], ops: Sequence[Path | Operation] = (), *,
                given: Mapping[str, Any] | None = None, store: VarsStore | None = None) -> Any:
    """``bosh int MANIFEST -o OPS... -v NAME=VALUE... --vars-store STORE``.

    ``ops`` are ops files, or operations already parsed. Raises OpsError or VariablesError
    (both name the file, the operation or the variables), ManifestError for an unreadable file.
    """
    doc = read_yaml(manifest) if isinstance(manifest, Path) else manifest
    operations: list[Operation] = []
    for item in ops:
        operations.extend(load_ops_file(item) if isinstance(item, Path) else [item])
    what = str(manifest) if isinstance(manifest, Path) else "the manifest"
    return resolve(apply_ops(doc, operations), given=given, store=store, what=what)


def load(manifest: Path, ops: Sequence[Path | Operation] = (), *, given: Mapping[str, Any] | None = None,
         store: VarsStore | None = None) -> Deployment:
    """Interpolate ``manifest`` (see :func:`interpolate`) and parse it."""
    return parse(interpolate(manifest, ops, given=given, store=store), manifest)


def _entries(doc: Mapping[str, Any], key: str, problems: list[str], what: str) -> list[dict[str, Any]]:
    """The maps listed under ``key``; a problem for a value that is not a list, or an entry that is not a map."""
    raw = doc.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"'{key}' must be a list of {what}, got {raw!r}")
        return []
    for entry in raw:
        if not isinstance(entry, dict):
            problems.append(f"{key}: every entry is a map of {what}, got {entry!r}")
    return [e for e in raw if isinstance(e, dict)]


def _group_problems(group: dict[str, Any], aliases: set[str], releases: set[str]) -> list[str]:
    where = f"instance group '{group['name']}'"
    problems = [f"{where}: '{key}' is required" for key in ("instances", "azs", "vm_type", "stemcell", "networks",
                                                              "jobs") if key not in group]
    count = group.get("instances")
    if "instances" in group and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
        problems.append(f"{where}: 'instances' must be a whole number, got {count!r}")
        count = None
    if "stemcell" in group and str(group.get("stemcell")) not in aliases:
        problems.append(f"{where}: stemcell alias {group.get('stemcell')!r} is not under stemcells")
    for net in _entries(group, "networks", problems, "{name, static_ips}"):
        ips = net.get("static_ips") or []
        if not isinstance(ips, list):
            problems.append(f"{where}: 'static_ips' of network {net.get('name')!r} must be a list of addresses")
        elif ips and isinstance(count, int) and len(ips) < count:
            problems.append(f"{where}: {count} instances but {len(ips)} static_ips")
    jobs = _entries(group, "jobs", problems, "{name, release, properties}")
    names = [j.get("name") for j in jobs]
    if len(names) != len(set(map(str, names))):
        problems.append(f"{where}: a job is listed twice")
    for job in jobs:
        if not job.get("name") or not job.get("release"):
            problems.append(f"{where}: job entry {job!r} needs name and release")
        elif str(job["release"]) not in releases:
            problems.append(f"{where}: job '{job['name']}' uses release '{job['release']}', which is not under "
                            "releases")
        elif job.get("properties") is not None and not isinstance(job["properties"], dict):
            problems.append(f"{where}: the properties of job '{job['name']}' must be a map")
    return problems


def deploy_problems(doc: Any, *, release: str) -> list[str]:
    """What ``bosh deploy`` would reject in an interpolated manifest (v2 shape), ``release`` listed.

    Never raises: a value of the wrong type anywhere is one more problem, naming the field.
    """
    if not isinstance(doc, dict):
        return [f"a manifest is a YAML map with name, releases, stemcells, update and instance_groups, got {doc!r}"]
    problems = [f"'{k}' is required" for k in ("name", "releases", "stemcells", "update", "instance_groups")
                if not doc.get(k)]
    release_entries = _entries(doc, "releases", problems, "{name, version}")
    releases = {str(r.get("name")) for r in release_entries}
    if "releases" in doc and release not in releases:
        problems.append(f"releases: must list {release}")
    for r in release_entries:
        if not r.get("name") or "version" not in r:
            problems.append(f"releases: entry {r!r} needs name and version")
    aliases = {str(s.get("alias")) for s in _entries(doc, "stemcells", problems, "{alias, os, version}")}
    update = doc.get("update")
    if isinstance(update, dict):
        problems += [f"update: '{key}' is required" for key in ("canaries", "max_in_flight", "canary_watch_time",
                                                                 "update_watch_time") if key not in update]
    elif update is not None:
        problems.append(f"'update' must be a map (canaries, max_in_flight, watch times), got {update!r}")
    seen: set[str] = set()
    for group in _entries(doc, "instance_groups", problems, "{name, instances, jobs, ...}"):
        name = group.get("name")
        if not name or not isinstance(name, str):
            problems.append(f"instance_groups: every instance group needs a name (a string), got {group!r}")
            continue
        if str(name) in seen:
            problems.append(f"instance group '{name}' is defined twice")
        seen.add(str(name))
        problems += _group_problems(group, aliases, releases)
    return problems
