"""``((variables))`` as ``bosh int`` interpolates them; an unknown one is an error unless a vars
store or ``--var`` provides it; a vars store generates what the manifest declares."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cf_mysql_consul_tools.bosh.variables import (
    VariablesError,
    VarsStore,
    definitions,
    given_values,
    interpolate,
    parse_var_flags,
    resolve,
    var_names,
)


def test_whole_inline_field_and_key_variables() -> None:
    doc = {"a": "((pw))", "b": "user:((pw))@host:((port))", "c": "((cert.certificate))", "((key))": "((!n))",
           "d": ["((flag))"]}
    values = {"pw": "s3cret", "cert": {"certificate": "PEM"}, "n": 5, "port": 3306, "key": "k", "flag": False}
    assert interpolate(doc, values) == {"a": "s3cret", "b": "user:s3cret@host:3306", "c": "PEM", "k": 5,
                                        "d": [False]}
    assert var_names(doc) == {"pw", "port", "cert", "key", "n", "flag"}


def test_unknown_variables_are_an_error_naming_each_one() -> None:
    with pytest.raises(VariablesError) as err:
        interpolate({"a": "((x))", "b": "((y.field)) and ((x))"}, {})
    assert "Expected to find variables: x, y" in str(err.value) and "--var" in str(err.value)


def test_a_structured_value_inside_a_string_is_refused() -> None:
    with pytest.raises(VariablesError, match="Supported types for interpolation within a string are integers"):
        interpolate({"a": "x-((cert))"}, {"cert": {"ca": "x"}})
    with pytest.raises(VariablesError, match=r"Finding variable 'cert\.nope': Expected to find a map key 'nope'"):
        interpolate({"a": "((cert.nope))"}, {"cert": {"ca": "x"}})


def test_given_values_win_and_a_store_generates_declared_passwords_once(tmp_path: Path) -> None:
    manifest = {"p": "((admin))", "q": "((given))", "u": "((creds.username))",
                "variables": [{"name": "admin", "type": "password"}, {"name": "creds", "type": "user"}]}
    path = tmp_path / "store.yml"
    first = resolve(manifest, given={"given": "g"}, store=VarsStore.load(path))
    assert first["q"] == "g" and len(first["p"]) == 20 and first["p"].isalnum()
    assert yaml.safe_load(path.read_text())["admin"] == first["p"]
    again = resolve(manifest, given={"given": "g", "admin": "override"}, store=VarsStore.load(path))
    assert again["p"] == "override" and again["u"] == first["u"]


def test_certificates_need_the_bosh_cli_unless_placeholders_are_asked_for(tmp_path: Path) -> None:
    manifest = {"c": "((tls.certificate))", "variables": [{"name": "tls", "type": "certificate"}]}
    with pytest.raises(VariablesError, match=r"variable 'tls' \(type certificate\).*password and user"):
        resolve(manifest, store=VarsStore.load(tmp_path / "store.yml"))
    assert "placeholder certificate" in resolve(manifest, store=VarsStore(placeholders=True))["c"]


@pytest.mark.parametrize(("content", "message"), [
    ("- a\n", "a vars store is a YAML mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_a_bad_vars_store_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "store.yml"
    path.write_text(content)
    with pytest.raises(VariablesError, match=message):
        VarsStore.load(path)


def test_malformed_definitions_and_flags_are_named() -> None:
    with pytest.raises(VariablesError, match=r"variables\[0\]: every variable needs a 'name'"):
        definitions({"variables": [{"type": "password"}]})
    assert parse_var_flags(["a=b=c"]) == {"a": "b=c"}
    with pytest.raises(VariablesError, match="--var takes NAME=VALUE"):
        parse_var_flags(["novalue"])


def test_given_values_read_flags_as_yaml_and_let_them_win_over_later_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yml", tmp_path / "b.yml"
    first.write_text("port: 1\nname: first\nkeep: yes-a\n")
    second.write_text("port: 2\nname: second\n")
    values = given_values(["port=3306", "text=a: b: c"], [first, second])
    assert values == {"port": 3306, "name": "second", "keep": "yes-a", "text": "a: b: c"}
    for content, message in (("- a\n", "a vars file is a YAML map"), ("a: [\n", "is not valid YAML: line 2")):
        first.write_text(content)
        with pytest.raises(VariablesError, match=message):
            given_values([], [first])
    with pytest.raises(VariablesError, match="does not exist"):
        given_values([], [tmp_path / "missing.yml"])
