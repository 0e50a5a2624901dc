"""``bench.deploy`` end to end, at a small size: both sides on labs of their own, run from anywhere.

Each test runs the task as a user would (``inv bench.deploy``, from a directory outside the
checkout, with a relative ``--root``: the lab's state must land in the checkout) on its own
address prefix (``LAB_BENCH_TEST_PREFIX``, default 127.0.23), so it never meets the session's
shared lab. Small: a few writes/s, no prefill, no downtime, the default start timeout: every
side's deploy finishes. Nothing is left running afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, TEST_LAB_ROOT
from tests.invoke_tasks import run_task

pytestmark = pytest.mark.integration

PREFIX = os.environ.get("LAB_BENCH_TEST_PREFIX", "127.0.23").rstrip(".")
SMALL = ("--rate", "20", "--writers", "2", "--payload", "200", "--prefix", PREFIX)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A relative --root's target (under the test lab root), with the working directory outside the checkout."""
    monkeypatch.chdir(tmp_path)
    root = TEST_LAB_ROOT / "bench-deploy"
    shutil.rmtree(root / "logs", ignore_errors=True)
    yield root
    for side in ("A", "B"):
        assert not (root / side / "run").exists(), f"side {side}'s lab was not purged"


def _alive_on_prefix() -> list[str]:
    """Sockets listening on the prefix's addresses (every lab process listens on its instance's address)."""
    def address(hex_ip: str) -> str:
        return ".".join(str(b) for b in reversed(bytes.fromhex(hex_ip)))

    out = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        ip, port = local.split(":")
        if state == "0A" and address(ip).startswith(f"{PREFIX}."):
            out.append(f"{address(ip)}:{int(port, 16)}")
    return out


def test_both_sides_run_to_the_end_and_write_their_figures(state: Path, tmp_path: Path) -> None:
    relative = os.path.relpath(state, REPO)
    code, out, err = run_task("bench.deploy", *SMALL, "--root", relative, "--json", str(tmp_path / "ab.json"))
    assert code == 0, out[-3000:] + err[-3000:]
    doc = json.loads((tmp_path / "ab.json").read_text())
    assert [r["side"] for r in doc["results"]] == ["A", "B"]
    for r in doc["results"]:
        assert r["failed"] is None, r
        assert r["deploy_ok"], r["deploy_error"]
        assert r["acked"] > 0 and set(r["missing"].values()) == {0}, r
        assert r["lab_up_seconds"] > 0  # each side brought its own lab up
        assert Path(r["logs"]).is_relative_to(state)
    assert doc["params"]["root"] == str(state)
    assert "COULD NOT RUN" not in out and _alive_on_prefix() == []


def test_a_side_that_cannot_start_is_reported_and_the_other_side_still_runs(state: Path, tmp_path: Path) -> None:
    # A real reason for a lab not to come up: a file where side A's state directory must go.
    state.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(state / "A", ignore_errors=True)
    (state / "A").write_text("not a directory")
    try:
        code, out, err = run_task("bench.deploy", *SMALL, "--root", str(state), "--json", str(tmp_path / "ab.json"))
    finally:
        (state / "A").unlink()
    assert code == 1, out[-3000:] + err[-3000:]
    assert "side A could not run (lab up:" in err and "Traceback" not in out + err
    a, b = json.loads((tmp_path / "ab.json").read_text())["results"]
    assert a["failed"].startswith("lab up: LabError: ") and "is a file" in a["failed"]
    assert b["failed"] is None and b["deploy_ok"] and b["acked"] > 0, b
    assert "COULD NOT RUN: lab up" in out and "finished" in out
    assert _alive_on_prefix() == []
