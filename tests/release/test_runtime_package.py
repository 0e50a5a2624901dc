"""The BOSH package ``cf-mysql-consul`` ships the runtime only: the jobs' code and their wheels."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from cf_mysql_consul_tools.release.packages import load_package

REPO = Path(__file__).resolve().parents[2]
TOOLING_DISTRIBUTIONS = ("invoke", "jinja2", "rich", "matplotlib", "numpy", "pillow", "fonttools", "pytest")
MAX_WHEEL_BYTES = 15 * 1024 * 1024


def test_the_package_globs_take_nothing_from_the_tooling() -> None:
    package = load_package(REPO / "packages" / "cf-mysql-consul")
    assert all(glob.startswith(("cf_mysql_consul/", "cf-mysql-consul/")) for glob in package.files)
    assert (REPO / "src" / "cf_mysql_consul_tools").is_dir()
    assert not any(glob.startswith("cf_mysql_consul_tools") for glob in package.files)


def test_the_wheels_are_the_runtime_dependencies_only_and_small() -> None:
    blobs = yaml.safe_load((REPO / "config" / "blobs.yml").read_text())
    wheels = {path: entry for path, entry in blobs.items() if path.startswith("cf-mysql-consul/")}
    names = {path.split("/", 1)[1].split("-", 1)[0].lower() for path in wheels}
    assert not names & set(TOOLING_DISTRIBUTIONS), names & set(TOOLING_DISTRIBUTIONS)
    runtime = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in runtime:
        name = requirement.split("==", 1)[0].lower().replace("-", "_")
        assert name in names, f"{requirement} has no wheel in config/blobs.yml: run ./inv release.blobs"
    assert sum(int(entry["size"]) for entry in wheels.values()) <= MAX_WHEEL_BYTES
