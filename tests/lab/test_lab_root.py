"""Where a lab keeps its state: relative roots come from the checkout; roots a purge must never delete are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cf_mysql_consul_tools.benchmarks.labrun import lab_location
from cf_mysql_consul_tools.lab.lab import REPO_ROOT, Lab, LabError, lab_root


def test_a_relative_root_is_taken_from_the_checkout_whatever_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert lab_root(".lab-mine") == REPO_ROOT / ".lab-mine"
    assert lab_root("labs/../.lab-x") == REPO_ROOT / ".lab-x"
    assert lab_root(tmp_path / "lab") == tmp_path / "lab"
    monkeypatch.setenv("LAB_ROOT", ".lab-from-env")
    assert Lab.from_manifest().root == REPO_ROOT / ".lab-from-env"
    monkeypatch.delenv("LAB_ROOT")
    monkeypatch.delenv("LAB_ADDRESS_PREFIX", raising=False)
    assert lab_location(None, ".lab-b") == ("127.0.15", REPO_ROOT / ".lab-b")
    assert lab_location("127.0.16.", None, default_root=Path(".lab-d")) == ("127.0.16", REPO_ROOT / ".lab-d")


@pytest.mark.parametrize("root", ["/", ".", "..", str(REPO_ROOT), str(REPO_ROOT.parent), "  "])
def test_a_root_whose_purge_would_delete_the_checkout_is_refused(root: str) -> None:
    with pytest.raises(LabError, match="lab root"):
        lab_root(root)


def test_a_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(LabError, match="is a file"):
        lab_root(tmp_path / "f")


def test_up_refuses_a_root_too_long_for_a_mysql_socket_before_starting_anything(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * (110 - len(str(tmp_path))))
    lab = Lab.from_manifest(root=deep)
    with pytest.raises(LabError, match="too long"):
        lab.up()
    assert lab.alive_pids() == [] and not (deep / "instances").exists()
    assert os.path.isabs(lab.root)
