"""Compile a package of this release locally, as a BOSH compilation VM would.

The files a package's ``files`` globs select (from ``src/`` and ``blobs/``, minus
``excluded_files``) are copied into a fresh compile directory, and ``packaging`` runs there
with ``BOSH_COMPILE_TARGET``, ``BOSH_INSTALL_TARGET``, ``BOSH_PACKAGE_NAME`` and
``BOSH_PACKAGES_DIR`` set; dependencies are looked up in ``BOSH_PACKAGES_DIR`` (compile them
first, in dependency order). This checks the packaging scripts without a director.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from cf_mysql_consul_tools.bosh.releases import REPO_ROOT
from cf_mysql_consul_tools.release.blobs import read_blobs_yml
from cf_mysql_consul_tools.release.packages import PackageError, load_package, matched_files


def compile_package(name: str, packages_dir: Path, *, release_dir: Path = REPO_ROOT,
                    log_path: Path | None = None) -> float:
    """Compile package ``name`` into ``packages_dir/NAME``; returns the seconds it took.

    Raises PackageError when a file is missing, a dependency is not compiled yet, or
    ``packaging`` fails (the message names the log file).
    """
    pkg = load_package(release_dir / "packages" / name)
    for dep in pkg.dependencies:
        if not (packages_dir / dep).is_dir():
            raise PackageError(f"package {name} depends on {dep}: compile it first into {packages_dir / dep}")
    work = packages_dir.parent / "compile" / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for pattern, hits in matched_files(release_dir, pkg, set(read_blobs_yml(release_dir))).items():
        for rel in hits:
            source = next((base / rel for base in (release_dir / "src", release_dir / "blobs")
                           if (base / rel).is_file()), None)
            if source is None:
                raise PackageError(f"{rel} (pattern '{pattern}') is listed but not downloaded: run ./inv release.blobs")
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / rel)
    shutil.copy2(pkg.path / "packaging", work / "packaging")
    target = packages_dir / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    env = {**os.environ, "BOSH_COMPILE_TARGET": str(work), "BOSH_INSTALL_TARGET": str(target),
           "BOSH_PACKAGE_NAME": name, "BOSH_PACKAGES_DIR": str(packages_dir)}
    log_path = log_path or packages_dir.parent / f"compile-{name}.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.run(["bash", "-e", "packaging"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                              check=False)
    if proc.returncode != 0:
        raise PackageError(f"packaging of {name} failed (exit {proc.returncode}); see {log_path}")
    return time.monotonic() - started
