"""The release lint on the real tree, and on copies of it with one defect each.

The copies are made from whatever jobs exist under ``jobs/`` (nothing here names a job): each
defect is put into the first job that has what the defect needs. A defect must add a finding
that names the broken file; findings the real tree already has are ignored in that comparison,
so each test checks its own defect only.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cf_mysql_consul_tools.bosh.releases import RELEASE_NAME
from cf_mysql_consul_tools.release.findings import Finding
from cf_mysql_consul_tools.release.lint import lint_release

REPO = Path(__file__).resolve().parents[2]


def test_real_tree_passes_the_lint() -> None:
    """Every job, package and manifest + ops combination of the repository: no errors at all."""
    report = lint_release(REPO)
    assert report.jobs, "no jobs found under jobs/"
    assert report.renders > 0, "no job was rendered for any manifest"
    assert report.errors == [], "\n".join(map(str, report.errors))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the release: jobs, packages, config, src, and the base manifest only."""
    root = tmp_path_factory.mktemp("release")
    for sub in ("jobs", "packages", "config"):
        shutil.copytree(REPO / sub, root / sub, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "src" / "cf_mysql_consul", root / "src" / "cf_mysql_consul",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "manifests").mkdir()
    shutil.copy2(REPO / "manifests" / "cf-mysql-consul.yml", root / "manifests" / "cf-mysql-consul.yml")
    return root


@pytest.fixture
def release(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the pristine release for one test to break."""
    root = tmp_path / "release"
    shutil.copytree(pristine, root)
    return root


def _jobs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "jobs").iterdir() if (p / "spec").is_file())


def _spec(job: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((job / "spec").read_text())


def _write_spec(job: Path, doc: dict) -> None:  # type: ignore[type-arg]
    (job / "spec").write_text(yaml.safe_dump(doc, sort_keys=False))


def _job_with_templates(root: Path) -> Path:
    return next(j for j in _jobs(root) if _spec(j).get("templates"))


def _rendered_job(root: Path) -> Path:
    """A job of this release that the base manifest deploys (so the lint renders it)."""
    doc = yaml.safe_load((root / "manifests" / "cf-mysql-consul.yml").read_text())
    used = {j["name"] for g in doc["instance_groups"] for j in g["jobs"] if j.get("release") == RELEASE_NAME}
    return next(j for j in _jobs(root) if j.name in used and _spec(j).get("templates"))


def _new_findings(root: Path, pristine_root: Path, *, render: bool) -> list[Finding]:
    before = {(f.path, f.message.split(" (manifests/")[0]) for f in lint_release(pristine_root, render=render).errors}
    return [f for f in lint_release(root, render=render).errors
            if (f.path, f.message.split(" (manifests/")[0]) not in before]


def _dir_name_differs(root: Path) -> str:
    job = _jobs(root)[0]
    renamed = job.with_name(job.name + "-renamed")
    job.rename(renamed)
    return f"jobs/{renamed.name}/spec"


def _template_missing(root: Path) -> str:
    job = _job_with_templates(root)
    source = next(iter(_spec(job)["templates"]))
    (job / "templates" / source).unlink()
    return f"jobs/{job.name}/templates/{source}"


def _template_unlisted(root: Path) -> str:
    job = _job_with_templates(root)
    (job / "templates" / "forgotten.erb").write_text("not listed in the spec\n")
    return f"jobs/{job.name}/templates/forgotten.erb"


def _monit_not_bpm(root: Path) -> str:
    job = next(j for j in _jobs(root) if (j / "monit").is_file() and (j / "monit").read_text().strip())
    (job / "monit").write_text(f'check process {job.name}\n  with pidfile /var/vcap/sys/run/{job.name}.pid\n'
                               f'  start program "/var/vcap/jobs/{job.name}/bin/ctl start"\n'
                               f'  stop program "/var/vcap/jobs/{job.name}/bin/ctl stop"\n')
    return f"jobs/{job.name}/monit"


def _add_template_line(job: Path, line: str) -> str:
    source = next(iter(_spec(job)["templates"]))
    path = job / "templates" / source
    path.write_text(path.read_text() + line)
    return f"jobs/{job.name}/templates/{source}"


def _property_undeclared(root: Path) -> str:
    return _add_template_line(_job_with_templates(root), "<%# read %><%- p('lint_test_undeclared', 1) -%>\n")


def _property_without_description(root: Path) -> str:
    job = _job_with_templates(root)
    doc = _spec(job)
    doc.setdefault("properties", {})["lint_test_no_description"] = {"default": 1}
    _write_spec(job, doc)
    _add_template_line(job, "<%- p('lint_test_no_description') -%>\n")
    return f"jobs/{job.name}/spec"


def _template_fails_to_render(root: Path) -> str:
    job = _rendered_job(root)
    doc = _spec(job)
    doc.setdefault("properties", {})["lint_test_required"] = {"description": "set by nobody"}
    _write_spec(job, doc)
    return _add_template_line(job, "<%= p('lint_test_required') %>\n")


def _glob_matches_nothing(root: Path) -> str:
    pkg = sorted(p for p in (root / "packages").iterdir() if (p / "spec").is_file())[0]
    doc = yaml.safe_load((pkg / "spec").read_text())
    doc["files"] = [*(doc.get("files") or []), "no-such-dir/*.tar.gz"]
    (pkg / "spec").write_text(yaml.safe_dump(doc))
    return f"packages/{pkg.name}/spec"


def _missing_package(root: Path) -> str:
    job = _jobs(root)[0]
    doc = _spec(job)
    doc["packages"] = [*(doc.get("packages") or []), "no-such-package"]
    _write_spec(job, doc)
    return f"jobs/{job.name}/spec"


DEFECTS: dict[str, tuple[Callable[[Path], str], str, bool]] = {
    "job dir name != spec name": (_dir_name_differs, "does not match job name", False),
    "template listed but missing": (_template_missing, "missing", False),
    "file in templates/ not listed": (_template_unlisted, "not listed", False),
    "monit not the BPM shim": (_monit_not_bpm, "BPM shim", False),
    "property read but undeclared": (_property_undeclared, "lint_test_undeclared", False),
    "property without description": (_property_without_description, "has no description", False),
    "template fails to render": (_template_fails_to_render, "fails to render", True),
    "package glob matches nothing": (_glob_matches_nothing, "matches nothing", False),
    "job needs a missing package": (_missing_package, "no-such-package", False),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_defect_fails_the_lint_naming_the_file(defect: str, release: Path, pristine: Path) -> None:
    """One defect in a copy of the release: the lint fails with a finding on the broken file."""
    make, words, render = DEFECTS[defect]
    broken_file = make(release)
    new = _new_findings(release, pristine, render=render)
    assert new, f"{defect}: the lint found nothing new"
    assert any(f.path == broken_file and words in f.message for f in new), "\n".join(map(str, new))


def test_manifest_naming_a_job_that_does_not_exist(release: Path, pristine: Path) -> None:
    """A manifest that deploys a job of this release missing from jobs/: the manifest is blamed."""
    manifest = release / "manifests" / "cf-mysql-consul.yml"
    doc = yaml.safe_load(manifest.read_text())
    doc["instance_groups"][0]["jobs"].append({"name": "no-such-job", "release": RELEASE_NAME})
    manifest.write_text(yaml.safe_dump(doc))
    new = _new_findings(release, pristine, render=True)
    assert any(f.path == "manifests/cf-mysql-consul.yml" and "jobs/no-such-job does not exist" in f.message
               for f in new), "\n".join(map(str, new))


def test_broken_ops_file_is_named(release: Path, pristine: Path) -> None:
    """An ops file whose path does not exist in the manifest: the ops file is blamed."""
    ops = release / "manifests" / "operations" / "broken.yml"
    ops.parent.mkdir()
    ops.write_text("- type: replace\n  path: /instance_groups/name=no-such-group/instances\n  value: 3\n")
    new = _new_findings(release, pristine, render=False) + lint_release(release).errors
    assert any(f.path == "manifests/operations/broken.yml" and "no-such-group" in f.message for f in new)


def test_an_ops_file_with_values_a_job_would_refuse_is_named(release: Path, pristine: Path) -> None:
    """The release's own ops files go through every job's start check and the property checks too."""
    ops = release / "manifests" / "operations" / "bad-values.yml"
    ops.parent.mkdir()
    lock = "/instance_groups/name=proxy/jobs/name=consul-lock/properties"
    ops.write_text(yaml.safe_dump([{"type": "replace", "path": f"{lock}/lock_delay_seconds?", "value": 1},
                                   {"type": "replace", "path": f"{lock}/lease_secs?", "value": 1}]))
    new = _new_findings(release, pristine, render=True)
    mine = [f.message for f in new if f.path == "manifests/operations/bad-values.yml"]
    assert any("the job would refuse to start: property 'lock_delay_seconds' (1)" in m for m in mine), new
    assert any("unknown property 'lease_secs' (did you mean 'lease_seconds'?)" in m for m in mine), new
