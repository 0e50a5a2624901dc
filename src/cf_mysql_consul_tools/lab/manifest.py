"""Loading a BOSH v2 deployment manifest into the lab's view of instances and jobs.

Only the parts the lab acts on are read: ``name``, ``update``, ``instance_groups`` with
``instances``, ``networks[].static_ips``, ``jobs`` (``name``, ``release``, ``properties``,
``consumes``) and instance-group ``properties``. Every error names the field and the fix.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_MANIFEST = Path(__file__).parent / "manifests" / "lab.yml"


class ManifestError(ValueError):
    """The manifest is not usable; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class JobRef:
    """One job of an instance group, as the manifest lists it."""

    name: str
    release: str
    properties: dict[str, Any]
    consumes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpdatePolicy:
    """The manifest's ``update`` block (watch times in milliseconds)."""

    canaries: int = 1
    max_in_flight: int = 1
    canary_watch_time: tuple[int, int] = (1000, 30000)
    update_watch_time: tuple[int, int] = (1000, 30000)
    serial: bool = True


@dataclass(frozen=True, slots=True)
class Instance:
    """One instance (``group/index``) with its loopback address."""

    group: str
    index: int
    address: str
    id: str
    jobs: tuple[JobRef, ...]

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
class Deployment:
    """A parsed manifest: instance groups flattened into instances, in manifest order."""

    name: str
    instances: tuple[Instance, ...]
    update: UpdatePolicy
    groups: tuple[str, ...]
    source: Path

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

    def group_size(self, group: str) -> int:
        """How many instances the group has."""
        return sum(1 for i in self.instances if i.group == group)

    def with_job(self, job: str) -> tuple[Instance, ...]:
        """Every instance that runs ``job``."""
        return tuple(i for i in self.instances if i.job(job) is not None)


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
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


def _parse_update(raw: dict[str, Any]) -> UpdatePolicy:
    where = "update"
    return UpdatePolicy(
        canaries=int(raw.get("canaries", 1)),
        max_in_flight=int(raw.get("max_in_flight", 1)),
        canary_watch_time=_watch_time(raw.get("canary_watch_time", "1000-30000"), f"{where}.canary_watch_time"),
        update_watch_time=_watch_time(raw.get("update_watch_time", "1000-30000"), f"{where}.update_watch_time"),
        serial=bool(raw.get("serial", True)),
    )


def _static_ips(group: dict[str, Any], where: str, prefix: str | None) -> list[str]:
    networks = _require(group, "networks", where)
    ips: list[str] = []
    for net in networks:
        ips.extend(str(ip) for ip in net.get("static_ips") or [])
    if prefix:
        ips = [prefix.rstrip(".") + "." + ip.rsplit(".", 1)[1] for ip in ips]
    for ip in ips:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError as exc:
            raise ManifestError(f"{where}.networks: '{ip}' is not an IP address") from exc
        if not addr.is_loopback:
            raise ManifestError(
                f"{where}.networks: the lab only uses loopback addresses (127.0.0.0/8), got {ip}; "
                "give each instance a static IP such as 127.0.10.N"
            )
    return ips


def parse_manifest(raw: dict[str, Any], source: Path, *, address_prefix: str | None = None) -> Deployment:
    """Turn a manifest's YAML data into a :class:`Deployment`, checking what the lab needs.

    ``address_prefix`` (e.g. ``127.0.11``) moves every static IP into that /24, keeping the
    last octet: a second lab on the same machine with the same manifest.
    """
    if not isinstance(raw, dict):
        raise ManifestError(f"{source}: a manifest is a YAML mapping with 'name' and 'instance_groups'")
    name = str(_require(raw, "name", str(source)))
    instances: list[Instance] = []
    groups: list[str] = []
    seen_ips: dict[str, str] = {}
    for g in _require(raw, "instance_groups", str(source)):
        gname = str(_require(g, "name", "instance_groups[]"))
        where = f"instance_groups.{gname}"
        count = int(_require(g, "instances", where))
        ips = _static_ips(g, where, address_prefix)
        if len(ips) < count:
            raise ManifestError(f"{where}: {count} instances but {len(ips)} static_ips; list one address per instance")
        group_props = g.get("properties") or {}
        jobs = tuple(
            JobRef(
                name=str(_require(j, "name", f"{where}.jobs[]")),
                release=str(_require(j, "release", f"{where}.jobs.{j.get('name')}")),
                properties={**group_props, **(j.get("properties") or {})},
                consumes=dict(j.get("consumes") or {}),
            )
            for j in _require(g, "jobs", where)
        )
        for index in range(count):
            ip = ips[index]
            if ip in seen_ips:
                raise ManifestError(f"{where}: address {ip} is already used by {seen_ips[ip]}")
            seen_ips[ip] = f"{gname}/{index}"
            iid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bosh://{name}/{gname}/{index}"))
            instances.append(Instance(group=gname, index=index, address=ip, id=iid, jobs=jobs))
        groups.append(gname)
    return Deployment(
        name=name, instances=tuple(instances), update=_parse_update(raw.get("update") or {}),
        groups=tuple(groups), source=source,
    )


def load_manifest(path: Path | None = None, *, address_prefix: str | None = None) -> Deployment:
    """Read and parse a manifest file (the lab's default one when ``path`` is None)."""
    path = path or DEFAULT_MANIFEST
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ManifestError(f"manifest {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"manifest {path} is not valid YAML: {exc}") from exc
    return parse_manifest(raw, path, address_prefix=address_prefix)
