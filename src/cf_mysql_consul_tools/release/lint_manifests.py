"""The deployment half of the release lint: the release's own manifests, or an operator's.

``manifests/*.yml`` are deployment manifests; ``manifests/operations/*.yml`` are ops files, each
applied on its own to each manifest (as ``bosh int M -o OPS --vars-store S`` would, with a vars
store that generates what the manifest declares: placeholders for certificates).
:func:`lint_deployment` takes one operator's manifest, ops files and variables instead.

For each deployment, through the BOSH model (:mod:`cf_mysql_consul_tools.bosh`): the ops apply
and every variable is known, the result has the structure ``bosh deploy`` needs, every job of
this release it names exists in ``jobs/``, its links resolve, and every template of each such
job renders for every instance. Then what the VM would find out only when the job starts: each
job's rendered config goes through the job's own config check (:mod:`.start_checks`). And what
nobody would find out: properties the job does not declare (BOSH drops them silently) and values
outside their plausible range (notes) (:mod:`.property_checks`). Property names the templates
asked for while rendering are checked against the job specs, and the rendered ``bpm.yml``
processes against the monit shim.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cf_mysql_consul_tools.bosh.director import instance_spec
from cf_mysql_consul_tools.bosh.jobspec import JobSpec, RenderError, load_job_spec
from cf_mysql_consul_tools.bosh.links import LinkError, providers, resolve
from cf_mysql_consul_tools.bosh.manifest import Deployment, JobRef, ManifestError, deploy_problems, interpolate, parse
from cf_mysql_consul_tools.bosh.ops import OpsError
from cf_mysql_consul_tools.bosh.releases import RELEASE_NAME, Catalog
from cf_mysql_consul_tools.bosh.render import Rendered, render_templates
from cf_mysql_consul_tools.bosh.variables import VariablesError, VarsStore
from cf_mysql_consul_tools.release.bpm import BPM_DEST, bpm_process_names, monit_processes
from cf_mysql_consul_tools.release.findings import Finding, LintReport, rel
from cf_mysql_consul_tools.release.property_checks import implausible, unknown_properties
from cf_mysql_consul_tools.release.start_checks import start_refusal


def combinations(root: Path) -> list[tuple[Path, list[Path]]]:
    """(manifest, ops files) pairs: each manifest alone, then with each ops file."""
    mdir = root / "manifests"
    manifests = sorted(mdir.glob("*.yml")) if mdir.is_dir() else []
    ops = sorted((mdir / "operations").glob("*.yml")) if (mdir / "operations").is_dir() else []
    return [(m, []) for m in manifests] + [(m, [o]) for m in manifests for o in ops]


def label(root: Path, manifest: Path, ops: Sequence[Path]) -> str:
    """``manifests/x.yml + manifests/operations/y.yml``."""
    return " + ".join(rel(p, root) for p in [manifest, *ops])


def lint_manifests(root: Path, specs: dict[str, JobSpec], report: LintReport) -> None:
    """Check every manifest combination of the release; findings go into ``report``."""
    catalog = Catalog(jobs_dirs=(root / "jobs",))
    seen_in_base: dict[Path, set[tuple[str, str]]] = {}
    for manifest, ops in combinations(root):
        combo = label(root, manifest, ops)
        report.combinations.append(combo)
        blame = rel(ops[-1] if ops else manifest, root)
        base = seen_in_base.setdefault(manifest, set())
        for found in _combination(root, catalog, manifest, ops, blame, specs, report):
            # A problem the manifest has on its own is reported once, against the manifest.
            key = (found.path if found.path != blame else rel(manifest, root), found.message)
            if ops and key in base:
                continue
            if not ops:
                base.add(key)
            report.findings.append(Finding(found.path, f"{found.message} ({combo})", found.severity))


def lint_deployment(root: Path, manifest: Path, ops: Sequence[Path], *, given: Mapping[str, Any] | None = None,
                    store: VarsStore | None = None) -> LintReport:
    """``bosh int MANIFEST -o OPS... -v/-l ... --vars-store STORE``, then every check of the release's
    own manifests, against the jobs of the release in ``root``.

    A manifest that cannot become a deployment raises (OpsError, VariablesError, ManifestError:
    each names the file and the field); the findings about the deployment go into the report.
    Variables the manifest declares under ``variables:`` and the store lacks are generated in
    memory (placeholders for certificates), as a director would; ``store`` is never written.
    """
    values = VarsStore(values=dict(store.values) if store else {}, placeholders=True)
    doc = interpolate(manifest, list(ops), given=given, store=values)
    where = label(root, manifest, ops)
    problems = deploy_problems(doc, release=RELEASE_NAME)
    if problems:
        raise ManifestError(f"{where} is not a manifest bosh deploy accepts:\n  " + "\n  ".join(problems))
    deployment = parse(doc, manifest).with_dynamic_addresses()
    jobs_dir = root / "jobs"
    specs = {d.name: load_job_spec(d) for d in sorted(jobs_dir.iterdir()) if (d / "spec").is_file()}
    report = LintReport(jobs=sorted(specs), combinations=[where])
    report.findings += check_deployment(root, Catalog(jobs_dirs=(jobs_dir,)), deployment, where, specs, report)
    return report


def _combination(root: Path, catalog: Catalog, manifest: Path, ops: list[Path], blame: str,
                 specs: dict[str, JobSpec], report: LintReport) -> list[Finding]:
    """The problems of one manifest + ops combination of the release."""
    try:
        doc = interpolate(manifest, ops, store=VarsStore(placeholders=True))
    except (OpsError, VariablesError, ManifestError) as exc:
        return [Finding(blame, f"does not apply: {exc}")]
    problems = deploy_problems(doc, release=RELEASE_NAME)
    if problems:
        return [Finding(blame, problem) for problem in problems]
    try:
        deployment = parse(doc, manifest).with_dynamic_addresses()
    except ManifestError as exc:
        return [Finding(blame, str(exc))]
    return check_deployment(root, catalog, deployment, blame, specs, report)


def check_deployment(root: Path, catalog: Catalog, deployment: Deployment, blame: str,
                     specs: Mapping[str, JobSpec], report: LintReport) -> list[Finding]:
    """Everything about a parsed deployment: this release's jobs exist, their properties, links,
    renders and start checks. ``blame`` is the file a problem of the manifest's values is put on."""
    try:
        found_providers = providers(deployment, catalog)
    except (LinkError, RenderError) as exc:
        return [Finding(blame, str(exc))]
    found: list[Finding] = []
    for group in deployment.instance_groups:
        for job in group.jobs:
            if job.release != RELEASE_NAME:
                continue
            where = f"instance group '{group.name}', job '{job.name}'"
            if catalog.job_dir(job.name) is None:
                close = difflib.get_close_matches(job.name, sorted(specs), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                found.append(Finding(blame, f"instance group '{group.name}' uses job '{job.name}' of release "
                                            f"{RELEASE_NAME}, but jobs/{job.name} does not exist in this release"
                                            f"{hint}"))
                continue
            spec = specs.get(job.name)
            if spec is None:  # failed the static checks: already reported
                continue
            refusals: set[str] = set()
            try:
                links = resolve(deployment, group.name, job, spec, found_providers)
            except LinkError as exc:
                found.append(Finding(rel(spec.path / "spec", root), f"links of instance group '{group.name}': {exc}"))
                continue
            for inst in (i for i in deployment.instances if i.group == group.name):
                rendered = render_templates(spec.path, instance=instance_spec(deployment, inst),
                                            properties=job.properties, links=links)
                report.renders += 1
                found += _render_problems(root, spec, inst.name, rendered)
                refusal = start_refusal(spec.name, rendered.files)
                if refusal is not None:
                    refusals.add(refusal)
                    found.append(Finding(blame, f"{where}: the job would refuse to start: {refusal}"))
                _check_bpm(root, spec, rendered, report)
            found += _property_findings(spec, job, where, blame, refusals)
    return found


def _property_findings(spec: JobSpec, job: JobRef, where: str, blame: str, refusals: set[str]) -> list[Finding]:
    """Properties the job does not declare (errors: BOSH drops them) and implausible values (notes,
    but none for a property the job already refuses)."""
    found = []
    if not job.shared_properties:  # the group's shared properties are meant for its other jobs too
        for name, close in unknown_properties(spec, job.properties):
            hint = f" (did you mean '{close}'?)" if close else ""
            found.append(Finding(blame, f"{where}: unknown property '{name}'{hint}: the job does not declare it, "
                                        "and BOSH ignores it without a word"))
    for name, line in implausible(spec, job.properties):
        if not any(name in refusal for refusal in refusals):
            found.append(Finding(blame, f"{where}: {line}", severity="note"))
    return found


def _render_problems(root: Path, spec: JobSpec, instance: str, rendered: Rendered) -> list[Finding]:
    found: list[Finding] = []
    for error in rendered.errors:
        if error.template is None:
            found.append(Finding(rel(spec.path / "spec", root),
                                 f"fails to render for {instance}: binding properties: {error.message}"))
        else:
            found.append(Finding(rel(spec.path / "templates" / error.template, root),
                                 f"fails to render for {instance}: template '{error.template}' "
                                 f"(line {error.line or '?'}): {error.message}"))
    for source, names in rendered.properties_read.items():
        for name in names:
            if name not in spec.properties:
                found.append(Finding(rel(spec.path / "templates" / source, root),
                                     f"reads property '{name}', which {rel(spec.path / 'spec', root)} does not "
                                     "declare"))
    return found


def _check_bpm(root: Path, spec: JobSpec, rendered: Rendered, report: LintReport) -> None:
    if BPM_DEST not in rendered.files:
        return
    monit = spec.path / "monit"
    shim = monit_processes(monit.read_text(), spec.name)[0] if monit.is_file() else []
    bpm = bpm_process_names(rendered.files[BPM_DEST])
    if not bpm:
        report.findings.append(Finding(rel(spec.path / "templates", root),
                                       "rendered config/bpm.yml lists no processes"))
    if shim and sorted(shim) != sorted(bpm):
        report.findings.append(Finding(rel(monit, root), f"monit processes {sorted(shim)} differ from the "
                                       f"rendered config/bpm.yml processes {sorted(bpm)}"))
