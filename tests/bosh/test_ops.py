"""Ops files behave as go-patch (what ``bosh int -o`` runs) behaves: the same paths, the same
results, and what it rejects is rejected with its words. Expected values follow go-patch's own
behaviour (cppforlife/go-patch, patch/*_test.go)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cf_mysql_consul_tools.bosh.ops import (
    AfterLastIndexToken,
    IndexToken,
    KeyToken,
    MatchingIndexToken,
    OpsError,
    Pointer,
    apply_ops,
    load_ops_file,
    parse_ops,
)


def apply(doc: Any, *ops: dict[str, Any]) -> Any:
    return apply_ops(doc, parse_ops(list(ops), source="ops.yml"))


@pytest.mark.parametrize(("text", "tokens"), [
    ("", ()),
    ("/", (KeyToken(""),)),
    ("/key?/key2/key3", (KeyToken("key", True), KeyToken("key2", True), KeyToken("key3", True))),
    ("/-2", (IndexToken(-2),)),
    ("/-", (AfterLastIndexToken(),)),
    ("/-/key", (KeyToken("-"), KeyToken("key"))),
    ("/-1:prev:before", (IndexToken(-1, ("prev", "before")),)),
    ("/name=val?/key", (MatchingIndexToken("name", "val", True), KeyToken("key", True))),
    ("/==", (MatchingIndexToken("", "="),)),
    ("/name=val:after", (MatchingIndexToken("name", "val", False, ("after",)),)),
    ("/a~01b", (KeyToken("a~1b"),)),
    ("/a~1b", (KeyToken("a/b"),)),
    ("/m~7n", (KeyToken("m:n"),)),
])
def test_paths_parse_into_go_patch_tokens(text: str, tokens: tuple[Any, ...]) -> None:
    pointer = Pointer.parse(text)
    assert pointer.tokens == tokens
    assert str(Pointer.parse(str(pointer))) == str(pointer)


@pytest.mark.parametrize(("text", "message"), [
    ("abc", "Expected to start with '/'"),
    ("/abc:unknown", "Expected to find one of the following modifiers: 'prev', 'next', 'before', or 'after' "
                     "but found 'unknown'"),
    ("/-:prev", "Expected not to find any modifiers with after last index token"),
    ("/key:after", "Expected not to find any modifiers with key token"),
])
def test_malformed_paths_are_refused_in_go_patch_words(text: str, message: str) -> None:
    with pytest.raises(OpsError) as err:
        Pointer.parse(text)
    assert str(err.value) == message


@pytest.mark.parametrize(("path", "expected"), [
    ("/1", [1, 10, 3]),
    ("/-1", [1, 2, 10]),
    ("/3:prev", [1, 2, 10]),
    ("/0:next", [1, 10, 3]),
    ("/0:before", [10, 1, 2, 3]),
    ("/1:before", [1, 10, 2, 3]),
    ("/3:prev:after", [1, 2, 3, 10]),
    ("/-", [1, 2, 3, 10]),
])
def test_replace_in_arrays_with_index_modifiers(path: str, expected: list[int]) -> None:
    assert apply([1, 2, 3], {"type": "replace", "path": path, "value": 10}) == expected


def test_replace_by_matching_item_with_modifiers_and_optional_creation() -> None:
    doc = [{"key": "val"}, {"key": "val2"}]
    assert apply(doc, {"type": "replace", "path": "/key=val2:prev", "value": 100}) == [100, {"key": "val2"}]
    assert apply(doc, {"type": "replace", "path": "/key=val2:before", "value": 100}) == [
        {"key": "val"}, 100, {"key": "val2"}]
    assert apply(doc, {"type": "replace", "path": "/key=val:next:after", "value": 100}) == [*doc, 100]
    assert apply(doc, {"type": "replace", "path": "/key=new?/x", "value": 1}) == [*doc, {"key": "new", "x": 1}]
    assert apply(doc, {"type": "replace", "path": "/key=new?", "value": 7}) == [*doc, 7]
    assert doc == [{"key": "val"}, {"key": "val2"}], "the input must not change"


def test_optional_keys_create_maps_and_arrays_as_the_next_token_needs() -> None:
    doc = {"abc": {"efg": {}}}
    assert apply(doc, {"type": "replace", "path": "/abc/opr?/efg", "value": 1}) == {
        "abc": {"efg": {}, "opr": {"efg": 1}}}
    assert apply(doc, {"type": "replace", "path": "/list?/-", "value": 1}) == {"abc": {"efg": {}}, "list": [1]}
    assert apply(doc, {"type": "replace", "path": "/list?/name=x/v", "value": 1}) == {
        "abc": {"efg": {}}, "list": [{"name": "x", "v": 1}]}


def test_a_matching_value_is_a_string_as_in_go_patch() -> None:
    doc = [{"index": 1}, {"index": "1"}]
    assert apply(doc, {"type": "replace", "path": "/index=1/x?", "value": True}) == [
        {"index": 1}, {"index": "1", "x": True}]


@pytest.mark.parametrize(("doc", "op", "message"), [
    ({"xyz": 1}, {"type": "replace", "path": "/abc", "value": 1},
     "Expected to find a map key 'abc' for path '/abc' (found map keys: 'xyz')"),
    ({}, {"type": "replace", "path": "/abc", "value": 1},
     "Expected to find a map key 'abc' for path '/abc' (found no other map keys)"),
    ([], {"type": "replace", "path": "/1", "value": 1},
     "Expected to find array index '1' but found array of length '0' for path '/1'"),
    ({}, {"type": "replace", "path": "/0", "value": 1},
     "Expected to find an array at path '/0' but found 'map[interface {}]interface {}'"),
    ([], {"type": "replace", "path": "/abc", "value": 1},
     "Expected to find a map at path '/abc' but found '[]interface {}'"),
    ([{"key": "val"}, {"key": "val"}], {"type": "replace", "path": "/key=val", "value": 1},
     "Expected to find exactly one matching array item for path '/key=val' but found 2"),
    ([], {"type": "replace", "path": "/key=val", "value": 1},
     "Expected to find exactly one matching array item for path '/key=val' but found 0"),
    ({}, {"type": "replace", "path": "/abc?/0", "value": 1},
     "Expected to find key, matching index or after last index token at path '/abc?/0'"),
    ([1], {"type": "remove", "path": "/-"},
     "Expected to not find token 'patch.AfterLastIndexToken' at path '/-'"),
    ([1, 2], {"type": "remove", "path": "/0:after"},
     "Expected to find one of the following modifiers: 'prev', 'next', but found modifier 'patch.AfterModifier'"),
    ([1, 2], {"type": "replace", "path": "/0:after:prev", "value": 1},
     "Expected to not find any modifiers after 'after' modifier, but found modifier 'patch.PrevModifier'"),
    ({"a": 1}, {"type": "remove", "path": ""}, "Cannot remove entire document"),
])
def test_operations_that_do_not_apply_fail_in_go_patch_words(doc: Any, op: dict[str, Any], message: str) -> None:
    with pytest.raises(OpsError) as err:
        apply(copy.deepcopy(doc), op)
    assert str(err.value) == f"ops.yml: operation [0] ({op['type']} {op['path']}): {message}"


def test_remove_deletes_keys_and_items_and_optional_misses_do_nothing() -> None:
    doc = {"groups": [{"name": "a", "jobs": [1, 2, 3]}, {"name": "b"}], "x": {"y": 1}}
    out = apply(doc, {"type": "remove", "path": "/groups/name=a/jobs/-1"},
                {"type": "remove", "path": "/groups/name=a/jobs/0:next"},
                {"type": "remove", "path": "/groups/name=b"},
                {"type": "remove", "path": "/groups/name=nothing?"},
                {"type": "remove", "path": "/x/z?"},
                {"type": "remove", "path": "/x/y"})
    assert out == {"groups": [{"name": "a", "jobs": [1]}], "x": {}}


def test_test_operations_check_values_and_absence() -> None:
    doc = {"a": {"b": 1}}
    assert apply(doc, {"type": "test", "path": "/a/b", "value": 1}, {"type": "test", "path": "/a/c", "absent": True})
    with pytest.raises(OpsError, match="Found value does not match expected value"):
        apply(doc, {"type": "test", "path": "/a/b", "value": True})
    with pytest.raises(OpsError, match="Expected to not find '/a/b'"):
        apply(doc, {"type": "test", "path": "/a/b", "absent": True})


def test_an_error_field_prefixes_the_failure() -> None:
    with pytest.raises(OpsError, match=r"Error 'the proxy group is needed': Expected to find exactly one"):
        apply({"g": []}, {"type": "replace", "path": "/g/name=proxy/x", "value": 1,
                          "error": "the proxy group is needed"})


@pytest.mark.parametrize(("op", "message"), [
    ({"type": "remove", "path": "/a", "value": 1}, "Remove operation [0]: Cannot specify value within"),
    ({"type": "replace", "path": "/a", "value": None}, "Replace operation [0]: Missing value within"),
    ({"type": "replace", "path": "/a"}, "Replace operation [0]: Missing value within"),
    ({"type": "replace", "value": 1}, "Replace operation [0]: Missing path within"),
    ({"type": "replace", "path": "/k:after", "value": 1},
     "Replace operation [0]: Invalid path: Expected not to find any modifiers with key token within"),
    ({"type": "test", "path": "/a"}, "Test operation [0]: Missing value or absent within"),
    ({"type": "frobnicate", "path": "/a"}, "Unknown operation [0] with type 'frobnicate' within"),
])
def test_what_go_patch_refuses_to_build_is_refused(op: dict[str, Any], message: str) -> None:
    with pytest.raises(OpsError) as err:
        parse_ops([op], source="ops.yml")
    assert str(err.value).startswith(f"ops.yml: {message}\n")
    assert '"Type"' in str(err.value)


def test_an_ops_file_is_a_list_and_errors_name_it(tmp_path: Path) -> None:
    path = tmp_path / "ops.yml"
    path.write_text("type: replace\n")
    with pytest.raises(OpsError, match=f"{path}: an ops file is a YAML list of operations"):
        load_ops_file(path)
    with pytest.raises(OpsError, match="does not exist"):
        load_ops_file(tmp_path / "missing.yml")
