"""The release lint: everything ``bosh create-release`` checks, and what a deploy would trip on.

Jobs (every directory under ``jobs/``): the spec parses; the directory name equals the spec's
``name``; every template the spec lists exists and every file in ``templates/`` is listed (an
unlisted file is silently left out of the release); ``monit`` is the BPM shim (or absent for an
errand or a job with only lifecycle hooks); every property a template reads (``p``/``if_p``, found statically and
traced while rendering) is declared, and every declared property has a description; every
package the job names exists. Packages: the spec (or ``spec.lock``) parses, the directory name
equals its name, ``packaging`` exists, every ``files`` glob matches a file under ``src/``,
``blobs/`` or in ``config/blobs.yml``, every dependency exists; a downloaded blob matches its
recorded size and digest. Manifests (``manifests/*.yml``, alone and with each ops file under
``manifests/operations/``): the ops apply, the structure is what ``bosh deploy`` needs, every
job of this release exists, and every template of every job renders for every instance (real
Ruby ERB, BOSH-style links); each rendered config passes the job's own start check; no job is
given a property it does not declare, and values outside their plausible range are noted; the
processes of the rendered ``bpm.yml`` match the monit shim (:mod:`.lint_manifests`, which also
lints an operator's own deployment).

Every finding names a file, relative to the release directory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from cf_mysql_consul_tools.bosh.jobspec import JobSpec, RenderError, load_job_spec
from cf_mysql_consul_tools.release.blobs import BlobEntry, BlobError, file_digest, read_blobs_yml
from cf_mysql_consul_tools.release.bpm import BPM_DEST, monit_processes
from cf_mysql_consul_tools.release.findings import Finding, LintReport, rel
from cf_mysql_consul_tools.release.lint_manifests import lint_manifests
from cf_mysql_consul_tools.release.packages import PackageError, load_package, matched_files, package_dirs

STATIC_READ_RE = re.compile(r"(?<![\w.:@$])(?:if_p|p)\(\s*(\[[^\]]*\]|'[^']*'|\"[^\"]*\")")
QUOTED_RE = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def static_property_reads(text: str) -> set[str]:
    """Property names read with literal arguments: ``p('a.b')``, ``p(["a", "b"], d)``, ``if_p('x')``.

    ``link(...).p(...)`` and ``some_link.p(...)`` are the provider's properties and are skipped.
    """
    names: set[str] = set()
    for match in STATIC_READ_RE.finditer(text):
        for q in QUOTED_RE.finditer(match.group(1)):
            names.add(q.group(1) if q.group(1) is not None else q.group(2))
    return names


def lint_job(job_dir: Path, root: Path, package_names: set[str]) -> tuple[JobSpec | None, list[Finding]]:
    """Check one job directory (everything that needs no rendering)."""
    findings: list[Finding] = []
    spec_path = job_dir / "spec"
    try:
        spec = load_job_spec(job_dir)
    except RenderError as exc:
        return None, [Finding(rel(spec_path, root), str(exc))]
    where = rel(spec_path, root)
    if job_dir.name != spec.name:
        findings.append(Finding(where, f"job directory '{job_dir.name}' does not match job name '{spec.name}' in spec"))
    templates_dir = job_dir / "templates"
    for source in spec.templates:
        if not (templates_dir / source).is_file():
            findings.append(Finding(rel(templates_dir / source, root), f"listed in {where} but missing"))
    present = {p.relative_to(templates_dir).as_posix() for p in templates_dir.rglob("*") if p.is_file()} \
        if templates_dir.is_dir() else set()
    for extra in sorted(present - set(spec.templates)):
        findings.append(Finding(rel(templates_dir / extra, root),
                                f"not listed under 'templates' in {where}: bosh create-release leaves it out"))
    dests = set(spec.templates.values())
    monit = job_dir / "monit"
    monit_text = monit.read_text() if monit.is_file() else ""
    if monit_text.strip():
        if BPM_DEST not in dests:
            findings.append(Finding(rel(monit, root), f"monit must be the BPM shim, but the job renders no {BPM_DEST}"))
        for problem in monit_processes(monit_text, spec.name)[1]:
            findings.append(Finding(rel(monit, root), problem))
    elif BPM_DEST in dests and "bin/run" not in dests:
        findings.append(Finding(rel(monit, root), f"missing or empty, but the job renders {BPM_DEST}: BOSH starts "
                                "its processes only through the BPM monit shim"))
    for name in sorted(static_property_reads_of(templates_dir, spec) - set(spec.properties)):
        findings.extend(_undeclared(spec, templates_dir, name, root))
    for name, decl in sorted(spec.properties.items()):
        if not decl["description"].strip():
            findings.append(Finding(where, f"property '{name}' has no description"))
    for pkg in spec.packages:
        if pkg not in package_names:
            findings.append(Finding(where, f"job '{spec.name}' needs package '{pkg}', which is not in packages/"))
    return spec, findings


def static_property_reads_of(templates_dir: Path, spec: JobSpec) -> set[str]:
    """Every literal property name read by any of the job's listed templates."""
    names: set[str] = set()
    for source in spec.templates:
        path = templates_dir / source
        if path.is_file():
            names |= static_property_reads(path.read_text(errors="replace"))
    return names


def _undeclared(spec: JobSpec, templates_dir: Path, name: str, root: Path) -> list[Finding]:
    out = []
    for source in spec.templates:
        path = templates_dir / source
        if path.is_file() and name in static_property_reads(path.read_text(errors="replace")):
            out.append(Finding(rel(path, root), f"reads property '{name}', which {rel(spec.path / 'spec', root)} "
                               "does not declare"))
    return out


def lint_packages(root: Path, report: LintReport) -> set[str]:
    """Check every package; returns the package names found."""
    names: set[str] = set()
    try:
        blobs = read_blobs_yml(root)
    except BlobError as exc:
        report.findings.append(Finding("config/blobs.yml", str(exc)))
        blobs = {}
    specs = []
    for pkg_dir in package_dirs(root):
        try:
            pkg = load_package(pkg_dir)
        except PackageError as exc:
            report.findings.append(Finding(rel(pkg_dir / "spec", root), str(exc).split(": ", 1)[-1]))
            continue
        specs.append(pkg)
        names.add(pkg.name)
        report.packages.append(pkg.name)
        where = rel(pkg_dir / ("spec.lock" if pkg.vendored else "spec"), root)
        if pkg_dir.name != pkg.name:
            report.findings.append(Finding(where, f"package directory '{pkg_dir.name}' does not match "
                                           f"name '{pkg.name}'"))
        if not pkg.vendored and not (pkg_dir / "packaging").is_file():
            report.findings.append(Finding(rel(pkg_dir / "packaging", root), f"missing for package '{pkg.name}'"))
        for pattern, hits in matched_files(root, pkg, set(blobs)).items():
            if not hits:
                report.findings.append(Finding(where, f"files pattern '{pattern}' matches nothing under src/ or "
                                               "blobs/ (nor in config/blobs.yml)"))
            elif any(Path(h).name in ("packaging", "pre_packaging") and "/" not in h for h in hits):
                report.findings.append(Finding(where, f"files pattern '{pattern}' includes a 'packaging' file"))
    for pkg in specs:
        for dep in pkg.dependencies:
            if dep not in names:
                report.findings.append(Finding(rel(pkg.path / "spec", root),
                                               f"depends on package '{dep}', which is not in packages/"))
    report.findings.extend(_blob_findings(root, blobs))
    return names


def _blob_findings(root: Path, blobs: dict[str, BlobEntry]) -> Iterable[Finding]:
    absent = []
    for name, entry in sorted(blobs.items()):
        path = root / "blobs" / name
        if not path.is_file():
            if not entry.object_id:
                absent.append(name)
            continue
        if path.stat().st_size != entry.size or not _digest_matches(path, entry.sha):
            yield Finding(f"blobs/{name}", "size or digest differs from config/blobs.yml: run ./inv release.blobs")
    if absent:
        yield Finding("config/blobs.yml", f"{len(absent)} blobs (e.g. {absent[0]}) are not under blobs/ and were "
                      "never uploaded: run ./inv release.blobs before release.create", severity="note")


def _digest_matches(path: Path, sha: str) -> bool:
    if sha.startswith("sha256:"):
        return file_digest(path) == sha
    return hashlib.sha1(path.read_bytes()).hexdigest() == sha


def lint_release(root: Path, *, render: bool = True) -> LintReport:
    """Run every check on the release in ``root``; ``render=False`` skips the manifest renders."""
    report = LintReport()
    package_names = lint_packages(root, report)
    jobs_dir = root / "jobs"
    specs: dict[str, JobSpec] = {}
    for job_dir in sorted(p for p in jobs_dir.iterdir() if p.is_dir()) if jobs_dir.is_dir() else []:
        spec, findings = lint_job(job_dir, root, package_names)
        report.findings.extend(findings)
        report.jobs.append(job_dir.name)
        if spec is not None and spec.name == job_dir.name:
            specs[spec.name] = spec
    if render:
        lint_manifests(root, specs, report)
    return report

