"""The manifest half of the release lint: every manifest, alone and with each ops file.

``manifests/*.yml`` are deployment manifests; ``manifests/operations/*.yml`` are ops files, each
applied on its own to each manifest (as ``bosh int M -o OPS --vars-store S`` would, with a vars
store that generates what the manifest declares: placeholders for certificates). For each
combination, through the BOSH model (:mod:`cf_mysql_consul_tools.bosh`): the ops apply and every
variable is known, the result has the structure ``bosh deploy`` needs, every job of this release
it names exists in ``jobs/``, its links resolve, and every template of each such job renders for
every instance. Property names the templates asked for while rendering are checked against the
job specs, and the rendered ``bpm.yml`` processes against the monit shim.
"""

from __future__ import annotations

from pathlib import Path

from cf_mysql_consul_tools.bosh.director import instance_spec
from cf_mysql_consul_tools.bosh.jobspec import JobSpec, RenderError
from cf_mysql_consul_tools.bosh.links import LinkError, providers, resolve
from cf_mysql_consul_tools.bosh.manifest import ManifestError, deploy_problems, interpolate, parse
from cf_mysql_consul_tools.bosh.ops import OpsError
from cf_mysql_consul_tools.bosh.releases import RELEASE_NAME, Catalog
from cf_mysql_consul_tools.bosh.render import Rendered, render_templates
from cf_mysql_consul_tools.bosh.variables import VariablesError, VarsStore
from cf_mysql_consul_tools.release.bpm import BPM_DEST, bpm_process_names, monit_processes
from cf_mysql_consul_tools.release.findings import Finding, LintReport, rel

Problem = tuple[str, str]  # (file relative to the release, message)


def combinations(root: Path) -> list[tuple[Path, list[Path]]]:
    """(manifest, ops files) pairs: each manifest alone, then with each ops file."""
    mdir = root / "manifests"
    manifests = sorted(mdir.glob("*.yml")) if mdir.is_dir() else []
    ops = sorted((mdir / "operations").glob("*.yml")) if (mdir / "operations").is_dir() else []
    return [(m, []) for m in manifests] + [(m, [o]) for m in manifests for o in ops]


def label(root: Path, manifest: Path, ops: list[Path]) -> str:
    """``manifests/x.yml + manifests/operations/y.yml``."""
    return " + ".join(rel(p, root) for p in [manifest, *ops])


def lint_manifests(root: Path, specs: dict[str, JobSpec], report: LintReport) -> None:
    """Check every manifest combination; findings go into ``report``."""
    catalog = Catalog(jobs_dirs=(root / "jobs",))
    seen_in_base: dict[Path, set[Problem]] = {}
    for manifest, ops in combinations(root):
        combo = label(root, manifest, ops)
        report.combinations.append(combo)
        blame = rel(ops[-1] if ops else manifest, root)
        base = seen_in_base.setdefault(manifest, set())
        for path, message in _combination(root, catalog, manifest, ops, blame, specs, report):
            # A problem the manifest has on its own is reported once, against the manifest.
            if ops and (path if path != blame else rel(manifest, root), message) in base:
                continue
            if not ops:
                base.add((path, message))
            report.findings.append(Finding(path, f"{message} ({combo})"))


def _combination(root: Path, catalog: Catalog, manifest: Path, ops: list[Path], blame: str,
                 specs: dict[str, JobSpec], report: LintReport) -> list[Problem]:
    """The problems of one manifest + ops combination."""
    try:
        doc = interpolate(manifest, ops, store=VarsStore(placeholders=True))
    except (OpsError, VariablesError, ManifestError) as exc:
        return [(blame, f"does not apply: {exc}")]
    problems = deploy_problems(doc, release=RELEASE_NAME)
    if problems:
        return [(blame, problem) for problem in problems]
    try:
        deployment = parse(doc, manifest).with_dynamic_addresses()
        found_providers = providers(deployment, catalog)
    except (ManifestError, LinkError, RenderError) as exc:
        return [(blame, str(exc))]
    found: list[Problem] = []
    for group in deployment.instance_groups:
        for job in group.jobs:
            if job.release != RELEASE_NAME:
                continue
            if catalog.job_dir(job.name) is None:
                found.append((blame, f"instance group '{group.name}' uses job '{job.name}' of release "
                                     f"{RELEASE_NAME}, but jobs/{job.name} does not exist in this release"))
                continue
            spec = specs.get(job.name)
            if spec is None:  # failed the static checks: already reported
                continue
            try:
                links = resolve(deployment, group.name, job, spec, found_providers)
            except LinkError as exc:
                found.append((rel(spec.path / "spec", root), f"links of instance group '{group.name}': {exc}"))
                continue
            for inst in (i for i in deployment.instances if i.group == group.name):
                rendered = render_templates(spec.path, instance=instance_spec(deployment, inst),
                                            properties=job.properties, links=links)
                report.renders += 1
                found += _render_problems(root, spec, inst.name, rendered)
                _check_bpm(root, spec, rendered, report)
    return found


def _render_problems(root: Path, spec: JobSpec, instance: str, rendered: Rendered) -> list[Problem]:
    found: list[Problem] = []
    for error in rendered.errors:
        if error.template is None:
            found.append((rel(spec.path / "spec", root),
                          f"fails to render for {instance}: binding properties: {error.message}"))
        else:
            found.append((rel(spec.path / "templates" / error.template, root),
                          f"fails to render for {instance}: template '{error.template}' "
                          f"(line {error.line or '?'}): {error.message}"))
    for source, names in rendered.properties_read.items():
        for name in names:
            if name not in spec.properties:
                found.append((rel(spec.path / "templates" / source, root),
                              f"reads property '{name}', which {rel(spec.path / 'spec', root)} does not declare"))
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

