"""The manifest + ops file combinations the lint checks: every one in the repository applies
(``bosh int`` through the BOSH model, variables from a generating vars store) and has the
structure ``bosh deploy`` needs."""

from __future__ import annotations

from pathlib import Path

from cf_mysql_consul_tools.bosh.manifest import deploy_problems, interpolate
from cf_mysql_consul_tools.bosh.releases import RELEASE_NAME
from cf_mysql_consul_tools.bosh.variables import VarsStore
from cf_mysql_consul_tools.release.lint_manifests import combinations

REPO = Path(__file__).resolve().parents[2]


def test_every_repository_combination_applies_and_has_a_deployable_structure() -> None:
    combos = combinations(REPO)
    assert combos, "no manifests under manifests/"
    assert len(combos) == len(list((REPO / "manifests").glob("*.yml"))) * (
        1 + len(list((REPO / "manifests" / "operations").glob("*.yml"))))
    for manifest, ops_files in combos:
        doc = interpolate(manifest, ops_files, store=VarsStore(placeholders=True))
        assert deploy_problems(doc, release=RELEASE_NAME) == [], f"{manifest} + {ops_files}"
        for group in doc["instance_groups"]:
            assert group["jobs"], f"{manifest} + {ops_files}: instance group {group['name']} has no jobs"
