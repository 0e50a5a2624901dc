"""Shared fixtures. ``lab`` is ONE real lab (MariaDB Galera x2, garbd, Consul, proxies) for the
whole test session, on 127.0.20.x so that it never collides with a developer's own
``./inv lab.up`` on 127.0.10.x (``LAB_TEST_PREFIX`` and ``LAB_TEST_ROOT`` move it).
Tests that fault it must leave it healthy (``healthy_lab``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cf_mysql_consul_tools.lab import Lab

REPO = Path(__file__).resolve().parents[1]
# Overridable so that two test runs on one machine (two developers' checkouts) never share a lab.
TEST_LAB_ROOT = Path(os.environ.get("LAB_TEST_ROOT", REPO / ".lab-test"))
TEST_PREFIX = os.environ.get("LAB_TEST_PREFIX", "127.0.20.")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The session's shared lab, up and healthy; torn down (and purged) at the end."""
    the_lab = Lab.from_manifest(address_prefix=TEST_PREFIX, root=TEST_LAB_ROOT / "shared",
                                log=lambda line: print(f"lab: {line}"))
    the_lab.down(purge=True)  # whatever a crashed earlier run left behind
    the_lab.up()
    yield the_lab
    the_lab.down(purge=True)


@pytest.fixture
def healthy_lab(lab: Lab) -> Iterator[Lab]:
    """The shared lab; after the test every partition is lifted and every stopped or paused process
    is brought back."""
    yield lab
    lab.heal()
    for inst in lab.deployment.instances:
        lab.resume(inst.name)
    lab.up()
