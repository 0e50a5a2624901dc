"""Links, resolved as the BOSH director resolves them within one deployment.

Providers: every ``provides`` entry of every job's spec (this release's jobs, and the other
releases' jobs of :mod:`.releases`), under its manifest alias (``provides: {x: {as: y}}``), or
left out when the manifest says ``provides: {x: nil}``. A provided link carries the properties
its spec lists: the job's manifest value when the key is set (even to null), else the spec's
default.

A consumer (a job spec's ``consumes`` entry) is resolved from its manifest entry:

- absent: implicit; every provider of the link's type in the deployment is a candidate;
- ``nil`` (the string, as in ``consumes: {x: nil}``): blocked; fine for an optional link,
  "No link providers found" for a required one;
- a map with ``from``: the providers of that type whose alias is ``from`` (a map without
  ``from`` matches the link's own name); ``ip_addresses`` asks for IPs or DNS names;
- a map with ``instances``/``properties``/``address``: a manual link, taken as written;
- anything else (``~`` too) is refused, as the director refuses it.

Exactly one candidate must remain; none is fine only for an optional implicit link. There is
no preference for a provider on the same instance group: two candidates are an error that
lists both (set ``consumes.X.from`` and a ``provides.X.as`` alias). Addresses are IPs unless
the manifest sets ``features.use_dns_addresses`` (``ip_addresses`` on the link wins); a
link's ``address`` is the group's BOSH DNS query name. Errors use the director's words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cf_mysql_consul_tools.bosh.jobspec import JobSpec
from cf_mysql_consul_tools.bosh.manifest import Deployment, Instance, JobRef
from cf_mysql_consul_tools.bosh.releases import Catalog
from cf_mysql_consul_tools.bosh.render import Link, LinkInstance

MANUAL_LINK_KEYS = ("instances", "properties", "address")


class LinkError(ValueError):
    """Links cannot be resolved; the message lists each problem in the director's words."""


@dataclass(frozen=True, slots=True)
class Provider:
    """One provided link: ``alias`` is the name consumers use (the spec's name unless ``as`` renames it)."""

    group: str
    job: str
    name: str
    alias: str
    type: str
    properties: dict[str, Any]


def _find(props: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = props
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def link_properties(spec: JobSpec, job: JobRef, names: list[str], group: str) -> dict[str, Any]:
    """What a provided link exposes: each of ``names`` from the job's manifest properties when set
    there, else from the spec's default, nested by its dotted name."""
    out: dict[str, Any] = {}
    for name in names:
        found, value = _find(job.properties, name)
        if not found:
            if name not in spec.properties:
                raise LinkError(f"Link property {name} in template {job.name} is not defined in release spec "
                                f"(instance group '{group}')")
            value = spec.properties[name]["default"]
        node = out
        keys = name.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return out


def providers(deployment: Deployment, catalog: Catalog) -> list[Provider]:
    """Every consumable link provider in the deployment; LinkError for a malformed ``provides`` entry."""
    found: list[Provider] = []
    for group in deployment.instance_groups:
        for job in group.jobs:
            spec = catalog.spec(job.release, job.name)
            if spec is None:
                continue
            for decl in spec.provides:
                source = job.provides.get(decl["name"], {})
                if source == "nil":
                    continue
                if not isinstance(source, dict):
                    raise LinkError(f"Provider '{decl['name']}' in job '{job.name}' in instance group '{group.name}' "
                                    "specified in the manifest should only be a hash or string 'nil'")
                found.append(Provider(group.name, job.name, decl["name"], str(source.get("as", decl["name"])),
                                      decl["type"], link_properties(spec, job, decl["properties"], group.name)))
    return found


def _describe(provider: Provider, deployment: Deployment) -> str:
    alias = f"with alias '{provider.alias}' " if provider.alias != provider.name else ""
    return (f"Link provider '{provider.name}' {alias}from job '{provider.job}' in instance group "
            f"'{provider.group}' in deployment '{deployment.name}'")


def _address(deployment: Deployment, inst: Instance, *, dns: bool) -> str:
    if dns:
        return f"{inst.id}.{inst.group}.{inst.network}.{deployment.name}.bosh"
    return inst.address


def _link(deployment: Deployment, provider: Provider, *, dns: bool) -> Link:
    members = [i for i in deployment.instances if i.group == provider.group]  # none for a group of 0
    network = deployment.instance_group(provider.group).network
    return Link(
        instances=tuple(LinkInstance(name=m.group, index=m.index, id=m.id, address=_address(deployment, m, dns=dns),
                                     az=m.az, bootstrap=m.index == 0) for m in members),
        properties=provider.properties,
        address=f"q-s0.{provider.group}.{network}.{deployment.name}.bosh",
    )


def _manual(source: dict[str, Any]) -> Link:
    instances = tuple(
        LinkInstance(name=str(i.get("name", "")), index=int(i.get("index", n)), id=str(i.get("id", "")),
                     address=str(i.get("address", "")), az=str(i.get("az", "z1")), bootstrap=bool(i.get("bootstrap")))
        for n, i in enumerate(source.get("instances") or []) if isinstance(i, dict))
    return Link(instances=instances, properties=dict(source.get("properties") or {}),
                address=str(source["address"]) if source.get("address") else None)


def resolve(deployment: Deployment, group: str, job: JobRef, spec: JobSpec,
            all_providers: list[Provider]) -> dict[str, Link]:
    """The links ``job`` (of instance group ``group``, with spec ``spec``) consumes: link name -> Link.

    Raises LinkError listing every link that does not resolve, as the director words it.
    """
    links: dict[str, Link] = {}
    errors: list[str] = []
    where = f"in job '{job.name}' in instance group '{group}'"
    for consumer in spec.consumes:
        name, type_ = consumer["name"], consumer["type"]
        explicit = name in job.consumes
        source = job.consumes.get(name)
        blocked = source == "nil"
        dns = deployment.use_dns_addresses
        alias = name
        if explicit and not blocked:
            if not isinstance(source, dict):
                errors.append(f"Consumer '{name}' {where} specified in the manifest should only be a hash or "
                              "string 'nil'")
                continue
            if any(k in source for k in MANUAL_LINK_KEYS):
                if "from" in source:
                    errors.append(f"Cannot specify both 'instances' and 'from' keys for link '{name}' {where}.")
                    continue
                links[name] = _manual(source)
                continue
            if source.get("deployment") not in (None, deployment.name):
                errors.append(f"Link '{name}' {where} consumes from deployment '{source['deployment']}': this "
                              "model sees one deployment only")
                continue
            if "ip_addresses" in source:
                if not isinstance(source["ip_addresses"], bool):
                    errors.append(f"Cannot specify non boolean values for 'ip_addresses' field for link '{name}' "
                                  f"{where}.")
                    continue
                dns = not source["ip_addresses"]
            alias = str(source.get("from", name)).split(".")[-1]
        candidates = [] if blocked else [
            p for p in all_providers if p.type == type_ and (not explicit or p.alias == alias)]
        if not candidates and consumer["optional"] and (not explicit or blocked):
            continue
        if len(candidates) != 1:
            details = [_describe(p, deployment) for p in candidates] or ["No link providers found"]
            with_alias = f"with alias '{alias}' and " if alias != name else ""
            errors.append(f"Failed to resolve link '{name}' with {with_alias}type '{type_}' from job '{job.name}' "
                          f"in instance group '{group}'. Details below:\n" +
                          "\n".join(f"    - {d}" for d in details))
            continue
        links[name] = _link(deployment, candidates[0], dns=dns)
    if errors:
        raise LinkError(f"Failed to resolve links from deployment '{deployment.name}'. See errors below:\n  - " +
                        "\n  - ".join(errors))
    return links
