"""The manifest half of the release lint: every manifest, alone and with each ops file.

``manifests/*.yml`` are deployment manifests; ``manifests/operations/*.yml`` are ops files, each
applied on its own to each manifest (as ``bosh int M -o OPS`` would). For each combination:
the ops apply, the result has the structure ``bosh deploy`` needs, every job of this release it
names exists in ``jobs/``, and every template of each such job renders for every instance
(see :mod:`cf_mysql_consul_tools.release.manifest_render`). Property names the templates asked for
while rendering are checked against the job specs, and the rendered ``bpm.yml`` processes
against the monit shim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul_tools.release.findings import Finding, LintReport, rel
from cf_mysql_consul_tools.release.jobspec import JobSpec, RenderError
from cf_mysql_consul_tools.release.manifest_render import RELEASE_NAME, render_manifest
from cf_mysql_consul_tools.release.opsfile import OpsError, interpolate


def combinations(root: Path) -> list[tuple[Path, list[Path]]]:
    """(manifest, ops files) pairs: each manifest alone, then with each ops file."""
    mdir = root / "manifests"
    manifests = sorted(mdir.glob("*.yml")) if mdir.is_dir() else []
    ops = sorted((mdir / "operations").glob("*.yml")) if (mdir / "operations").is_dir() else []
    return [(m, []) for m in manifests] + [(m, [o]) for m in manifests for o in ops]


def label(root: Path, manifest: Path, ops: list[Path]) -> str:
    """``manifests/x.yml + manifests/operations/y.yml``."""
    return " + ".join(rel(p, root) for p in [manifest, *ops])


def structure_problems(doc: Any) -> list[str]:
    """What ``bosh deploy`` would reject in an interpolated manifest (v2 shape)."""
    if not isinstance(doc, dict):
        return ["a manifest is a YAML map"]
    problems = [f"'{k}' is required" for k in ("name", "releases", "stemcells", "update", "instance_groups")
                if not doc.get(k)]
    releases = {r.get("name") for r in doc.get("releases") or [] if isinstance(r, dict)}
    if RELEASE_NAME not in releases:
        problems.append(f"releases: must list {RELEASE_NAME}")
    for r in doc.get("releases") or []:
        if not isinstance(r, dict) or not r.get("name") or "version" not in r:
            problems.append(f"releases: entry {r!r} needs name and version")
    aliases = {s.get("alias") for s in doc.get("stemcells") or [] if isinstance(s, dict)}
    update = doc.get("update") or {}
    for key in ("canaries", "max_in_flight", "canary_watch_time", "update_watch_time"):
        if key not in update:
            problems.append(f"update: '{key}' is required")
    seen: set[str] = set()
    for group in doc.get("instance_groups") or []:
        name = group.get("name") if isinstance(group, dict) else None
        if not name:
            problems.append(f"instance_groups: entry without a name: {group!r}")
            continue
        if name in seen:
            problems.append(f"instance group '{name}' is defined twice")
        seen.add(name)
        where = f"instance group '{name}'"
        for key in ("instances", "azs", "vm_type", "stemcell", "networks", "jobs"):
            if key not in group:
                problems.append(f"{where}: '{key}' is required")
        if not isinstance(group.get("instances"), int):
            problems.append(f"{where}: 'instances' must be an integer")
        if group.get("stemcell") not in aliases:
            problems.append(f"{where}: stemcell alias {group.get('stemcell')!r} is not under stemcells")
        for net in group.get("networks") or []:
            ips = net.get("static_ips") or [] if isinstance(net, dict) else []
            if ips and len(ips) < int(group.get("instances") or 0):
                problems.append(f"{where}: {group.get('instances')} instances but {len(ips)} static_ips")
        jobs = [j.get("name") for j in group.get("jobs") or [] if isinstance(j, dict)]
        if len(jobs) != len(set(jobs)):
            problems.append(f"{where}: a job is listed twice")
        for job in group.get("jobs") or []:
            if not isinstance(job, dict) or not job.get("name") or not job.get("release"):
                problems.append(f"{where}: job entry {job!r} needs name and release")
            elif job["release"] not in releases:
                problems.append(f"{where}: job '{job['name']}' uses release '{job['release']}', "
                                "which is not under releases")
    return problems


def bpm_process_names(text: str) -> list[str]:
    """Process names of a rendered bpm.yml (empty when it does not parse)."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return []
    return [str(p.get("name")) for p in doc.get("processes") or [] if isinstance(p, dict)]


def lint_manifests(root: Path, specs: dict[str, JobSpec], report: LintReport) -> None:
    """Check every manifest combination; findings go into ``report``."""
    from cf_mysql_consul_tools.release.lint import monit_processes

    jobs_dir = root / "jobs"
    seen_in_base: dict[Path, set[tuple[str, str]]] = {}
    for manifest, ops in combinations(root):
        combo = label(root, manifest, ops)
        report.combinations.append(combo)
        blame = rel(ops[-1] if ops else manifest, root)
        base = seen_in_base.setdefault(manifest, set())
        found: list[tuple[str, str]] = []
        found.extend(_combination(root, jobs_dir, manifest, ops, blame, specs, report, monit_processes))
        for path, message in found:
            # A problem the manifest has on its own is reported once, against the manifest.
            if ops and (path if path != blame else rel(manifest, root), message) in base:
                continue
            if not ops:
                base.add((path, message))
            report.findings.append(Finding(path, f"{message} ({combo})"))


def _combination(root: Path, jobs_dir: Path, manifest: Path, ops: list[Path], blame: str,
                 specs: dict[str, JobSpec], report: LintReport, parse_monit: Any) -> list[tuple[str, str]]:
    """(file, message) problems of one manifest + ops combination."""
    try:
        doc = interpolate(manifest, ops)
    except OpsError as exc:
        return [(blame, f"does not apply: {exc}")]
    found = [(blame, problem) for problem in structure_problems(doc)]
    if not isinstance(doc, dict):
        return found
    try:
        checks, problems = render_manifest(doc, jobs_dir)
    except RenderError as exc:
        return [*found, (blame, f"cannot render: {exc}")]
    found += [(blame, problem) for problem in problems]
    for check in checks:
        spec = specs.get(check.job)
        if spec is None:  # failed the static checks: already reported
            continue
        report.renders += 1
        for error in check.errors:
            path = rel(spec.path / "spec", root)
            if error.startswith("template '"):
                path = rel(spec.path / "templates" / error.split("'", 2)[1], root)
            found.append((path, f"fails to render for {check.group}/{check.index}: {error}"))
        for source, names in check.properties_read.items():
            for name in names:
                if name not in spec.properties:
                    found.append((rel(spec.path / "templates" / source, root),
                                  f"reads property '{name}', which {rel(spec.path / 'spec', root)} does not declare"))
        _check_bpm(root, spec, check.rendered, report, parse_monit)
    return found


def _check_bpm(root: Path, spec: JobSpec, rendered: dict[str, str], report: LintReport, parse_monit: Any) -> None:
    if "config/bpm.yml" not in rendered:
        return
    monit = spec.path / "monit"
    shim = parse_monit(monit.read_text(), spec.name)[0] if monit.is_file() else []
    bpm = bpm_process_names(rendered["config/bpm.yml"])
    if not bpm:
        report.findings.append(Finding(rel(spec.path / "templates", root),
                                       "rendered config/bpm.yml lists no processes"))
    if shim and sorted(shim) != sorted(bpm):
        report.findings.append(Finding(rel(monit, root), f"monit processes {sorted(shim)} differ from the "
                                       f"rendered config/bpm.yml processes {sorted(bpm)}"))
