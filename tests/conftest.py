"""Shared fixtures. The integration tests share ONE real lab (MariaDB Galera x2, garbd, Consul,
proxies with consul-lock) for the whole session, on 127.0.20.x so that it never collides with a
developer's own ``./inv lab.up`` on 127.0.10.x (``LAB_TEST_PREFIX`` and ``LAB_TEST_ROOT`` move it).

A test takes ``lab``: before it runs, the shared lab is moved into the state the test states with
the ``lab_state`` marker (no fault, plus consul-lock, the lock holder and the backend: see
tests/lab_state.py), so no test depends on what the tests before it did. Tests may leave faults
behind; the next test's ``lab`` lifts them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cf_mysql_consul_tools.lab import Lab
from tests.lab_state import LabState, establish

REPO = Path(__file__).resolve().parents[1]
# Overridable so that two test runs on one machine (two developers' checkouts) never share a lab.
TEST_LAB_ROOT = Path(os.environ.get("LAB_TEST_ROOT", REPO / ".lab-test"))
TEST_PREFIX = os.environ.get("LAB_TEST_PREFIX", "127.0.20.")


@pytest.fixture(scope="session")
def shared_lab() -> Iterator[Lab]:
    """The session's one lab, up; torn down (and purged) at the end. Tests take ``lab`` instead."""
    the_lab = Lab.from_manifest(address_prefix=TEST_PREFIX, root=TEST_LAB_ROOT / "shared",
                                log=lambda line: print(f"lab: {line}"))
    the_lab.down(purge=True)  # whatever a crashed earlier run left behind
    the_lab.up()
    yield the_lab
    the_lab.down(purge=True)


@pytest.fixture
def lab(shared_lab: Lab, request: pytest.FixtureRequest) -> Lab:
    """The shared lab, moved into the state the test's ``lab_state`` marker names (default:
    ``LabState()``, no fault and every consul-lock armed) and checked to be in it."""
    marker = request.node.get_closest_marker("lab_state")
    want = LabState(*marker.args, **marker.kwargs) if marker else LabState()
    establish(shared_lab, want)
    return shared_lab
