"""``bosh int``'s part the lint reproduces: go-patch ops files and ``((variables))``; and the
structure checks every manifest + ops file combination of the repository passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cf_mysql_consul_tools.release.lint_manifests import combinations, structure_problems
from cf_mysql_consul_tools.release.opsfile import OpsError, apply_ops, interpolate, interpolate_vars

REPO = Path(__file__).resolve().parents[2]
BASE = {"instance_groups": [{"name": "proxy", "jobs": [{"name": "proxy", "properties": {"a": 1}}]},
                            {"name": "mysql", "jobs": []}]}


def ops(tmp_path: Path, text: str) -> list[Path]:
    path = tmp_path / "ops.yml"
    path.write_text(text)
    return [path]


def test_replace_remove_append_and_optional_paths(tmp_path: Path) -> None:
    out = apply_ops(BASE, ops(tmp_path, """
- {type: replace, path: /instance_groups/name=proxy/jobs/name=proxy/properties/a, value: 2}
- {type: replace, path: "/instance_groups/name=proxy/jobs/name=proxy/properties/b?/c", value: 3}
- {type: replace, path: /instance_groups/name=mysql/jobs/-, value: {name: galera-drain}}
- {type: replace, path: /instance_groups/name=proxy:after, value: {name: proxy-2, jobs: []}}
- {type: remove, path: /instance_groups/name=mysql/jobs/name=galera-drain}
- {type: remove, path: "/instance_groups/name=nothing?"}
"""))
    assert out["instance_groups"][0]["jobs"][0]["properties"] == {"a": 2, "b": {"c": 3}}
    assert [g["name"] for g in out["instance_groups"]] == ["proxy", "proxy-2", "mysql"]
    assert out["instance_groups"][2]["jobs"] == []
    assert BASE["instance_groups"][0]["jobs"][0]["properties"] == {"a": 1}, "the input must not change"


@pytest.mark.parametrize("text,words", [
    ("- {type: replace, path: /instance_groups/name=nope/instances, value: 1}", "name=nope"),
    ("- {type: replace, path: /missing/key, value: 1}", "'missing'"),
    ("- {type: remove, path: /instance_groups/7}", "nothing to remove"),
    ("- {type: frobnicate, path: /x}", "replace|remove"),
])
def test_ops_that_do_not_apply_name_the_file(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(OpsError) as err:
        apply_ops(BASE, ops(tmp_path, text))
    assert str(tmp_path / "ops.yml") in str(err.value) and words in str(err.value)


def test_variables_whole_inline_fields_and_placeholders() -> None:
    doc = {"a": "((pw))", "b": "user:((pw))@host", "c": "((cert.certificate))", "d": "((unknown))", "e": "((n))"}
    out = interpolate_vars(doc, {"pw": "s3cret", "cert": {"certificate": "PEM"}, "n": 5})
    assert out == {"a": "s3cret", "b": "user:s3cret@host", "c": "PEM", "d": "unknown-placeholder", "e": 5}


def test_every_repository_combination_applies_and_has_a_deployable_structure() -> None:
    combos = combinations(REPO)
    assert combos, "no manifests under manifests/"
    for manifest, ops_files in combos:
        doc = interpolate(manifest, ops_files)
        assert structure_problems(doc) == [], f"{manifest} + {ops_files}"
        for group in doc["instance_groups"]:
            assert group["jobs"], f"{manifest} + {ops_files}: instance group {group['name']} has no jobs"
