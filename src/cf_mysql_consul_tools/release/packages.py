"""A release's packages as ``bosh create-release`` reads them.

A package directory holds ``spec`` (``name``, ``dependencies``, ``files``, ``excluded_files``)
and a ``packaging`` script, or only a ``spec.lock`` (``name``, ``fingerprint``,
``dependencies``) when it was vendored with ``bosh vendor-package``. Each ``files`` glob is
matched (``**`` spans directories) under the release's ``src/`` and ``blobs/`` and must match
at least one regular file, else create-release fails with "Missing files for pattern".
A blob listed in ``config/blobs.yml`` counts as present: ``bosh sync-blobs`` (or
``./inv release.blobs``) puts it under ``blobs/`` before a build.
"""

from __future__ import annotations

import fnmatch
import glob
from dataclasses import dataclass
from pathlib import Path

import yaml


class PackageError(ValueError):
    """A package directory cannot be read; the message names the file."""


@dataclass(frozen=True, slots=True)
class PackageSpec:
    """One package: its directory, name, dependencies and file globs (empty when vendored)."""

    path: Path
    name: str
    dependencies: tuple[str, ...]
    files: tuple[str, ...]
    excluded_files: tuple[str, ...]
    vendored: bool = False


def _str_list(doc: dict[str, object], key: str, where: Path) -> tuple[str, ...]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PackageError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def load_package(pkg_dir: Path) -> PackageSpec:
    """Read ``pkg_dir/spec`` (or ``spec.lock``). Raises PackageError naming the file."""
    lock = pkg_dir / "spec.lock"
    spec = pkg_dir / "spec"
    source = lock if lock.exists() else spec
    if not source.exists():
        raise PackageError(f"{spec}: package spec not found")
    try:
        doc = yaml.safe_load(source.read_text())
    except yaml.YAMLError as exc:
        raise PackageError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
        raise PackageError(f"{source}: needs a non-empty 'name'")
    return PackageSpec(
        path=pkg_dir,
        name=doc["name"],
        dependencies=_str_list(doc, "dependencies", source),
        files=() if source is lock else _str_list(doc, "files", source),
        excluded_files=() if source is lock else _str_list(doc, "excluded_files", source),
        vendored=source is lock,
    )


def package_dirs(release_dir: Path) -> list[Path]:
    """Every directory under ``packages/``, sorted."""
    root = release_dir / "packages"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def glob_files(root: Path, pattern: str) -> list[str]:
    """Regular files under ``root`` matching ``pattern`` (``**`` spans directories), relative paths."""
    if not root.is_dir():
        return []
    hits = glob.glob(str(root / pattern), recursive=True, include_hidden=True)
    return sorted(Path(h).relative_to(root).as_posix() for h in hits if Path(h).is_file())


def matched_files(release_dir: Path, pkg: PackageSpec, blob_names: set[str]) -> dict[str, list[str]]:
    """For each ``files`` glob, the files it takes from ``src/``, ``blobs/`` and ``config/blobs.yml``.

    Files matched by ``excluded_files`` are left out, as create-release does.
    """
    excluded: set[str] = set()
    for pattern in pkg.excluded_files:
        excluded.update(glob_files(release_dir / "src", pattern))
        excluded.update(glob_files(release_dir / "blobs", pattern))
    result: dict[str, list[str]] = {}
    for pattern in pkg.files:
        hits = set(glob_files(release_dir / "src", pattern)) | set(glob_files(release_dir / "blobs", pattern))
        hits |= {b for b in blob_names if fnmatch.fnmatchcase(b, pattern.replace("**/", "*"))}
        result[pattern] = sorted(hits - excluded)
    return result
