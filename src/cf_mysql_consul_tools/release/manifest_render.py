"""Render this release's jobs for every instance of an (interpolated) BOSH deployment manifest.

For the release lint: each job of release ``cf-mysql-consul`` in each instance group is rendered
for every instance with the manifest's properties and BOSH-style links, through the foundation's
request format and real Ruby ERB (``lint_trace.rb``, which also records every property name a
template asks for). Providers from other releases (cf-mysql's ``mysql``, pxc's ``pxc-mysql``,
consul-release's ``consul_agent``...) are described by :data:`EXTERNAL_PROVIDES`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cf_mysql_consul_tools.release.jobspec import JobSpec, RenderError, dig, link_properties, load_job_spec, nest
from cf_mysql_consul_tools.release.renderer import (
    RUBY_TIMEOUT_SECONDS,
    InstanceSpec,
    Link,
    LinkInstance,
    _read_sources,
    _request,
)

RELEASE_NAME = "cf-mysql-consul"
TRACE_RB = Path(__file__).with_name("lint_trace.rb")

# Links that jobs of other releases provide: job name -> [(link name, type, {property: default})].
# The manifest's value for a property wins over the default here, as BOSH merges them.
EXTERNAL_PROVIDES: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "mysql": [("mysql", "mysql", {"port": 3306, "cf_mysql.mysql.port": 3306})],  # cf-mysql-release
    "pxc-mysql": [("mysql", "mysql", {"port": 3306, "pxc_enabled": True, "mysql_version": "8.0"})],
    "galera-agent": [("galera-agent", "galera-agent", {"port": 9200})],  # pxc-release
    "arbitrator": [("arbitrator", "arbitrator", {})],
    "garbd": [("arbitrator", "arbitrator", {})],
    "consul_agent": [("consul_common", "consul_common", {})],
}


@dataclass(frozen=True, slots=True)
class RenderCheck:
    """The outcome of rendering one job for one instance."""

    group: str
    index: int
    job: str
    errors: tuple[str, ...] = ()
    rendered: dict[str, str] = field(default_factory=dict)  # destination -> content
    properties_read: dict[str, tuple[str, ...]] = field(default_factory=dict)  # template source -> names


@dataclass(frozen=True, slots=True)
class _Provider:
    group: str
    job: str
    name: str
    type: str
    properties: dict[str, Any]


def job_properties(group: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """A job's properties: the instance group's ``properties`` under the job's own (BOSH v2)."""
    return {**(group.get("properties") or {}), **(job.get("properties") or {})}


def providers(manifest: dict[str, Any], jobs_dir: Path) -> list[_Provider]:
    """Every link provider in the manifest: our jobs' ``provides`` and known external jobs."""
    found: list[_Provider] = []
    for group in manifest.get("instance_groups") or []:
        for job in group.get("jobs") or []:
            props = job_properties(group, job)
            name = str(job.get("name"))
            if job.get("release") == RELEASE_NAME:
                if not (jobs_dir / name / "spec").exists():
                    continue
                spec = load_job_spec(jobs_dir / name)
                for p in spec.provides:
                    found.append(_Provider(group["name"], name, p["name"], p["type"],
                                           link_properties(spec, props, list(p["properties"]))))
            for link, type_, defaults in EXTERNAL_PROVIDES.get(name, []) if job.get("release") != RELEASE_NAME else []:
                flat = {k: (dig(props, k) if dig(props, k) is not None else v) for k, v in defaults.items()}
                found.append(_Provider(group["name"], name, link, type_, nest(flat)))
    return found


def addresses(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Instance group -> one address per instance (static IPs, else 10.244.N.M like bosh-lite)."""
    out: dict[str, list[str]] = {}
    for g_index, group in enumerate(manifest.get("instance_groups") or []):
        ips = [str(ip) for net in group.get("networks") or [] for ip in net.get("static_ips") or []]
        count = int(group.get("instances") or 0)
        out[str(group.get("name"))] = [ips[i] if i < len(ips) else f"10.244.{g_index + 100}.{i + 2}"
                                       for i in range(count)]
    return out


def resolve_links(manifest: dict[str, Any], group: dict[str, Any], job: dict[str, Any], spec: JobSpec,
                  all_providers: list[_Provider]) -> tuple[dict[str, Link], list[str]]:
    """BOSH-style: ``consumes.X.from`` first, else the unique provider of the type (colocated
    wins when ambiguous). Returns the links and the resolution errors."""
    addrs = addresses(manifest)
    links: dict[str, Link] = {}
    errors: list[str] = []
    consumes = job.get("consumes") or {}
    for consumer in spec.consumes:
        name, type_ = consumer["name"], consumer["type"]
        explicit = consumes.get(name)
        if explicit == "nil" or (explicit is None and name in consumes):
            continue
        wanted = explicit.get("from") if isinstance(explicit, dict) else None
        candidates = [p for p in all_providers if (p.name == wanted if wanted else p.type == type_)]
        local = [p for p in candidates if p.group == group["name"]]
        if len(candidates) > 1 and local:
            candidates = local
        if len(candidates) != 1:
            if not candidates and consumer["optional"]:
                continue
            what = "no provider" if not candidates else "several providers (" + ", ".join(
                f"{p.group}/{p.job}" for p in candidates) + ")"
            errors.append(f"link '{name}' (type {type_}) of job '{spec.name}' in instance group "
                          f"'{group['name']}': {what}; set consumes.{name}.from")
            continue
        provider = candidates[0]
        members = addrs.get(provider.group, [])
        links[name] = Link(
            instances=tuple(LinkInstance(name=provider.group, index=i, id=_instance_id(manifest, provider.group, i),
                                         address=a, bootstrap=i == 0) for i, a in enumerate(members)),
            properties=provider.properties,
            address=f"q-s0.{provider.group}.default.{manifest.get('name')}.bosh",
        )
    return links, errors


def _instance_id(manifest: dict[str, Any], group: str, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bosh://{manifest.get('name')}/{group}/{index}"))


def trace_render(job_dir: Path, instance: InstanceSpec, properties: dict[str, Any],
                 links: dict[str, Link]) -> tuple[dict[str, str], list[str], dict[str, list[str]]]:
    """Render every template of a job; returns (destination -> content, errors, source -> names read).

    Raises RenderError when the spec or a template source is missing or Ruby cannot run.
    """
    spec = load_job_spec(job_dir)
    sources = _read_sources(spec)
    request = _request(spec, instance, properties, links, sources)
    ruby = shutil.which("ruby")
    if ruby is None:
        raise RenderError("Ruby is not installed (apt-get install ruby): the lint renders templates with it")
    proc = subprocess.run([ruby, "--disable-gems", str(TRACE_RB)], input=json.dumps(request).encode(),
                          capture_output=True, timeout=RUBY_TIMEOUT_SECONDS, check=False,
                          env={"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    try:
        result = json.loads(proc.stdout.decode())
    except ValueError:
        result = None
    if proc.returncode != 0 or not isinstance(result, dict):
        raise RenderError(f"{TRACE_RB} failed (exit {proc.returncode}): {proc.stderr.decode()[-2000:]}")
    errors = [
        f"template '{e.get('template')}' (line {e.get('line') or '?'}): {e.get('message')}"
        if e.get("template") else f"binding properties: {e.get('message')}"
        for e in result.get("errors") or []
    ]
    dests = dict(spec.templates)
    if "monit" in sources and "monit" not in dests:
        dests["monit"] = "monit"
    rendered = {dests[src]: text for src, text in (result.get("rendered") or {}).items() if src in dests}
    return rendered, errors, dict(result.get("properties_read") or {})


def render_manifest(manifest: dict[str, Any], jobs_dir: Path) -> tuple[list[RenderCheck], list[str]]:
    """Render every existing job of this release for every instance of ``manifest``.

    Returns the per-instance checks and the manifest-level problems (a job of this release that
    is not in ``jobs_dir``; an instance group without ``name``).
    """
    problems: list[str] = []
    checks: list[RenderCheck] = []
    all_providers = providers(manifest, jobs_dir)
    addrs = addresses(manifest)
    for group in manifest.get("instance_groups") or []:
        gname = str(group.get("name"))
        for job in group.get("jobs") or []:
            if job.get("release") != RELEASE_NAME:
                continue
            jname = str(job.get("name"))
            job_dir = jobs_dir / jname
            if not (job_dir / "spec").exists():
                problems.append(f"instance group '{gname}' uses job '{jname}' of release {RELEASE_NAME}, "
                                f"but jobs/{jname} does not exist in this release")
                continue
            spec = load_job_spec(job_dir)
            links, link_errors = resolve_links(manifest, group, job, spec, all_providers)
            for index, address in enumerate(addrs.get(gname, [])):
                instance = InstanceSpec(deployment=str(manifest.get("name")), name=gname, index=index,
                                        id=_instance_id(manifest, gname, index), address=address, ip=address,
                                        bootstrap=index == 0)
                if link_errors:
                    checks.append(RenderCheck(gname, index, jname, tuple(link_errors)))
                    continue
                rendered, errors, reads = trace_render(job_dir, instance, job_properties(group, job), links)
                checks.append(RenderCheck(gname, index, jname, tuple(errors), rendered,
                                          {k: tuple(v) for k, v in reads.items()}))
    return checks, problems
