"""The release's blobs: CPython's source tarball and the dependency wheels, plus ``config/blobs.yml``.

``bosh add-blob FILE BLOB_PATH`` copies FILE to ``blobs/BLOB_PATH`` and records its size and
digest in ``config/blobs.yml``; ``bosh create-release`` then finds package files there. This
module produces exactly that layout without the CLI:

- ``blobs/cf-mysql-consul/*.whl``: the runtime dependencies of ``pyproject.toml`` and their
  transitive dependencies, as manylinux x86_64 wheels for the packaged CPython version, pinned
  to the versions installed in the development virtualenv (the ones the tests ran against);
- ``blobs/python-3.11/Python-3.11.N.tar.gz``: CPython's upstream source, taken from the
  ``.orig.tar.gz`` of Debian's ``python3.11`` source package (a private apt list; the system's
  apt configuration is not touched).

Entries keep their ``object_id`` when the file is unchanged (after ``bosh upload-blobs``), and
blobs this module manages that are no longer wanted (an old wheel version) are removed from both
places. Nothing under ``blobs/`` is committed; ``config/blobs.yml`` is.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul_tools.bosh.releases import REPO_ROOT

PYTHON_PACKAGE = "python-3.11"
PYTHON_VERSION = "3.11"
WHEELS_DIR = "cf-mysql-consul"  # blob directory of the project package's wheels
# Every manylinux tag the ubuntu-jammy stemcell (glibc 2.35) runs: `pip download --platform` does
# not widen one tag to older glibc versions by itself.
WHEEL_PLATFORMS = ("manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64",
                   *(f"manylinux_2_{minor}_x86_64" for minor in range(5, 36)))
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE = "bookworm"
APT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class BlobError(RuntimeError):
    """A blob could not be fetched or recorded; the message names the file or command."""


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """One ``config/blobs.yml`` entry."""

    path: str
    size: int
    sha: str
    object_id: str | None = None

    def as_yaml(self) -> dict[str, Any]:
        """The entry's value as ``bosh`` writes it (object_id only once uploaded)."""
        out: dict[str, Any] = {"size": self.size}
        if self.object_id:
            out["object_id"] = self.object_id
        out["sha"] = self.sha
        return out


def file_digest(path: Path) -> str:
    """``sha256:HEX`` of a file, the digest form current bosh CLIs write into blobs.yml."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def read_blobs_yml(release_dir: Path = REPO_ROOT) -> dict[str, BlobEntry]:
    """Parse ``config/blobs.yml`` (empty or missing means no blobs).

    Raises BlobError naming the file when an entry lacks ``size`` or ``sha``.
    """
    path = release_dir / "config" / "blobs.yml"
    if not path.exists():
        return {}
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, dict):
        raise BlobError(f"{path}: expected a map of blob path -> {{size, sha, object_id}}")
    entries: dict[str, BlobEntry] = {}
    for name, body in doc.items():
        if not isinstance(body, dict) or "size" not in body or "sha" not in body:
            raise BlobError(f"{path}: blob {name!r} needs 'size' and 'sha'")
        entries[str(name)] = BlobEntry(str(name), int(body["size"]), str(body["sha"]), body.get("object_id"))
    return entries


def write_blobs_yml(entries: dict[str, BlobEntry], release_dir: Path = REPO_ROOT) -> Path:
    """Write ``config/blobs.yml`` sorted by path, as bosh does."""
    path = release_dir / "config" / "blobs.yml"
    doc = {name: entries[name].as_yaml() for name in sorted(entries)}
    path.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) if doc else "--- {}\n")
    return path


def runtime_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The pinned ``[project].dependencies`` of the project (what the jobs import)."""
    doc = tomllib.loads(pyproject.read_text())
    deps = [str(d) for d in doc["project"]["dependencies"]]
    unpinned = [d for d in deps if "==" not in d]
    if unpinned:
        raise BlobError(f"{pyproject}: dependencies must be pinned with == to be shipped as blobs: {unpinned}")
    return deps


def installed_constraints(python: str = sys.executable) -> list[str]:
    """``name==version`` of every distribution installed for ``python`` (pins transitive deps)."""
    proc = subprocess.run([python, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BlobError(f"{python} -m pip freeze failed: {proc.stderr.strip()[-500:]}")
    return [line.strip() for line in proc.stdout.splitlines()
            if "==" in line and not line.startswith(("-", "#")) and " @ " not in line]


def download_wheels(dest: Path, *, log: Callable[[str], None] = print) -> list[Path]:
    """Download the wheels into ``dest`` (replacing what is there); returns the wheel files."""
    with tempfile.TemporaryDirectory(prefix="cf-mysql-consul-wheels-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(installed_constraints()) + "\n")
        out = Path(tmp) / "wheels"
        platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
        argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
                *platforms, "--python-version", PYTHON_VERSION, "--implementation", "cp",
                "-c", str(constraints), "-d", str(out), *runtime_requirements()]
        log(f"running: pip download --only-binary=:all: (manylinux x86_64, CPython {PYTHON_VERSION}) "
            + " ".join(runtime_requirements()))
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BlobError(f"pip download failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        wheels = sorted(out.glob("*.whl"))
        if not wheels:
            raise BlobError("pip download produced no wheels")
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        return [Path(shutil.copy2(w, dest / w.name)) for w in wheels]


def download_python_source(dest_dir: Path, cache_dir: Path, *, log: Callable[[str], None] = print) -> Path:
    """Fetch Debian's ``python3.11`` orig tarball (upstream CPython) as ``Python-3.11.N.tar.gz``.

    Uses a private deb-src list and lists directory under ``cache_dir``; reuses a tarball
    already in ``cache_dir``. Raises BlobError when apt fails.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = sorted(cache_dir.glob("python3.11_3.11.*.orig.tar.gz"))
    if not found:
        lists = cache_dir / "lists"
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        sources = cache_dir / "sources.list"
        sources.write_text(f"deb-src [signed-by={APT_KEYRING}] {DEBIAN_MIRROR} {DEBIAN_SUITE} main\n")
        opts = ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/nonexistent",
                "-o", f"Dir::State::Lists={lists}"]
        for args in (["update"], ["source", "--download-only", "python3.11"]):
            log("running: apt-get " + " ".join(args) + " (private source list)")
            proc = subprocess.run(["apt-get", "-q", *opts, *args], cwd=cache_dir, capture_output=True,
                                  text=True, check=False)
            if proc.returncode != 0:
                raise BlobError(f"apt-get {' '.join(args)} failed: {proc.stderr.strip()[-1000:]}")
        found = sorted(cache_dir.glob("python3.11_3.11.*.orig.tar.gz"))
        if not found:
            raise BlobError(f"apt-get source python3.11 left no .orig.tar.gz in {cache_dir}")
    orig = found[-1]
    version = orig.name.split("_")[1].removesuffix(".orig.tar.gz")
    dest_dir.mkdir(parents=True, exist_ok=True)
    for old in dest_dir.glob("Python-3.11.*.tar.gz"):
        old.unlink()
    return Path(shutil.copy2(orig, dest_dir / f"Python-{version}.tar.gz"))


def record_blobs(prefixes: tuple[str, ...], release_dir: Path = REPO_ROOT) -> dict[str, BlobEntry]:
    """Make ``config/blobs.yml`` list exactly the files under ``blobs/PREFIX/`` for each prefix.

    Entries of other prefixes are kept as they are; an unchanged file keeps its object_id.
    """
    blobs_dir = release_dir / "blobs"
    old = read_blobs_yml(release_dir)
    entries = {k: v for k, v in old.items() if not k.startswith(tuple(p + "/" for p in prefixes))}
    for prefix in prefixes:
        for path in sorted((blobs_dir / prefix).glob("*")):
            if not path.is_file():
                continue
            name = path.relative_to(blobs_dir).as_posix()
            sha = file_digest(path)
            previous = old.get(name)
            object_id = previous.object_id if previous and previous.sha == sha else None
            entries[name] = BlobEntry(name, path.stat().st_size, sha, object_id)
    write_blobs_yml(entries, release_dir)
    return entries


def fetch_all(release_dir: Path = REPO_ROOT, *, log: Callable[[str], None] = print) -> dict[str, BlobEntry]:
    """Download the wheels and CPython's source into ``blobs/`` and rewrite ``config/blobs.yml``."""
    blobs_dir = release_dir / "blobs"
    wheels = download_wheels(blobs_dir / WHEELS_DIR, log=log)
    log(f"{len(wheels)} wheels in {blobs_dir / WHEELS_DIR}")
    cache = Path.home() / ".cache" / "cf-mysql-consul" / "debian-src"
    source = download_python_source(blobs_dir / PYTHON_PACKAGE, cache, log=log)
    log(f"CPython source: {source}")
    return record_blobs((WHEELS_DIR, PYTHON_PACKAGE), release_dir)
