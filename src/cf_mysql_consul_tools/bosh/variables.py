"""``((variables))`` in a manifest, as ``bosh int`` interpolates them, and a vars store.

``((name))`` is replaced everywhere (map keys too): a string that is only the variable takes the
value with its type; inside a longer string the value must be a string or an integer.
``((name.field))`` reads a field of a structured value (a certificate's ``certificate``), and
``((!name))`` is the same as ``((name))``. Values come, in this order, from the values given on
the command line (``--var``) and from a vars store. A variable that neither provides is an
error naming every missing one, as ``bosh int --var-errs`` does: no placeholder is ever filled in.

A vars store (a YAML map of name to value) generates the variables a manifest declares under
``variables:`` that it does not hold yet, as ``bosh int --vars-store`` does: ``password`` (20
characters, a-z0-9) and ``user`` types here. Other types (``certificate``, ``rsa``, ``ssh``)
need the bosh CLI: they are an error naming the variable, unless the store was made with
``placeholders=True`` (the release lint and dry runs, which render but never connect), in which
case each field gets a text that says it is a placeholder.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cf_mysql_consul_tools.bosh.ops import KeyToken, OpsError, Pointer, find
from cf_mysql_consul_tools.yamlfile import read_yaml

VAR_RE = re.compile(r"\(\((!?[-.\w]+)\)\)")
PASSWORD_ALPHABET = string.ascii_lowercase + string.digits
GENERATED = ("password", "user")
PLACEHOLDER_FIELDS = {"certificate": ("ca", "certificate", "private_key"), "rsa": ("private_key", "public_key"),
                      "ssh": ("private_key", "public_key", "public_key_fingerprint")}


class VariablesError(ValueError):
    """A variable is missing, of the wrong type, or cannot be generated; the message names it and the fix."""


def var_names(node: Any) -> set[str]:
    """Every variable's name (without ``!`` and ``.field``) used anywhere in ``node``."""
    if isinstance(node, dict):
        return set().union(*(var_names(k) | var_names(v) for k, v in node.items())) if node else set()
    if isinstance(node, list):
        return set().union(*(var_names(v) for v in node)) if node else set()
    if isinstance(node, str):
        return {m.lstrip("!").split(".", 1)[0] for m in VAR_RE.findall(node)}
    return set()


def _lookup(name: str, values: Mapping[str, Any]) -> tuple[bool, Any]:
    head, *fields = name.split(".")
    if head not in values:
        return False, None
    value = values[head]
    if fields:
        try:
            value = find(value, Pointer(tuple(KeyToken(f) for f in fields)))
        except OpsError as exc:
            raise VariablesError(f"Finding variable '{name}': {exc}") from None
    return True, value


def interpolate(node: Any, values: Mapping[str, Any], *, what: str = "the manifest") -> Any:
    """A copy of ``node`` with every ``((variable))`` replaced from ``values``.

    Raises VariablesError listing every variable ``values`` lacks ("Expected to find variables:"),
    or naming one whose value cannot stand inside a string.
    """
    missing: set[str] = set()

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        if not isinstance(item, str):
            return item
        text = item
        for raw in VAR_RE.findall(item):
            name = raw.lstrip("!")
            found, value = _lookup(name, values)
            if not found:
                missing.add(name.split(".", 1)[0])
                continue
            if VAR_RE.fullmatch(item):
                return value
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise VariablesError(f"Invalid type '{type(value).__name__}' for value '{value}' and variable "
                                     f"'{name}'. Supported types for interpolation within a string are integers "
                                     "and strings.")
            text = text.replace(f"(({name}))", str(value)).replace(f"((!{name}))", str(value))
        return text

    out = walk(node)
    if missing:
        raise VariablesError(f"{what}: Expected to find variables: {', '.join(sorted(missing))} (give each with "
                             "--var NAME=VALUE, or declare it under 'variables:' and use a vars store)")
    return out


@dataclass(frozen=True, slots=True)
class VariableDefinition:
    """An entry of a manifest's ``variables:`` section."""

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)


def definitions(manifest: Any) -> list[VariableDefinition]:
    """The manifest's ``variables:`` entries; VariablesError naming a malformed one."""
    raw = manifest.get("variables") if isinstance(manifest, dict) else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise VariablesError("'variables' must be a list of {name, type, options}")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry.get("name"):
            raise VariablesError(f"variables[{i}]: every variable needs a 'name' (got {entry!r})")
        out.append(VariableDefinition(entry["name"], str(entry.get("type") or ""), dict(entry.get("options") or {})))
    return out


@dataclass
class VarsStore:
    """Variable values kept in a YAML file (``path``) or in memory (``path`` None)."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)
    placeholders: bool = False

    @classmethod
    def load(cls, path: Path, *, must_exist: bool = False) -> VarsStore:
        """The store at ``path`` (empty when the file does not exist yet, unless ``must_exist``)."""
        if not path.exists():
            if must_exist:
                raise VariablesError(f"vars store {path} does not exist")
            return cls(path)
        data = read_yaml(path, "vars store", VariablesError)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise VariablesError(f"vars store {path}: a vars store is a YAML mapping of variable names to values, "
                                 f"got {type(data).__name__}")
        return cls(path, dict(data))

    def generate(self, wanted: list[VariableDefinition]) -> None:
        """Add a value for every typed definition the store lacks; write the file when anything was added."""
        added = False
        for definition in wanted:
            if definition.name in self.values or not definition.type:
                continue
            self.values[definition.name] = self._new_value(definition)
            added = True
        if added and self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(yaml.safe_dump(self.values, sort_keys=True))
            self.path.chmod(0o600)

    def _new_value(self, definition: VariableDefinition) -> Any:
        if definition.type == "password":
            return _password()
        if definition.type == "user":
            return {"username": str(definition.options.get("username") or _password()), "password": _password()}
        if self.placeholders and definition.type in PLACEHOLDER_FIELDS:
            return {f: f"placeholder {f} of {definition.type} variable {definition.name}"
                    for f in PLACEHOLDER_FIELDS[definition.type]}
        where = f"vars store {self.path}" if self.path else "this in-memory vars store"
        raise VariablesError(f"variable '{definition.name}' (type {definition.type}): {where} can generate only "
                             f"{' and '.join(GENERATED)} variables; give its value with --var or in the vars store "
                             "(bosh int --vars-store generates the others)")


def _password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(20))


def resolve(manifest: Any, *, given: Mapping[str, Any] | None = None, store: VarsStore | None = None,
            what: str = "the manifest") -> Any:
    """``bosh int --var ... --vars-store``: ``manifest`` with its variables replaced.

    ``given`` values win over the store's; the store first generates what the manifest declares.
    """
    values: dict[str, Any] = {}
    if store is not None:
        store.generate(definitions(manifest))
        values.update(store.values)
    values.update(given or {})
    return interpolate(manifest, values, what=what)


def parse_var_flags(pairs: list[str]) -> dict[str, str]:
    """``--var NAME=VALUE`` arguments as a map of the texts; VariablesError naming a malformed one."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise VariablesError(f"--var takes NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def given_values(var_flags: list[str], vars_files: list[Path]) -> dict[str, Any]:
    """The values ``bosh int -v NAME=VALUE... -l FILE...`` gives: each ``-v`` value read as YAML (``-v n=3``
    is the number 3) and winning over the files, a later file winning over an earlier one.

    VariablesError naming a malformed flag, or a vars file that is missing or not a YAML map.
    """
    values: dict[str, Any] = {}
    for path in vars_files:
        data = read_yaml(path, "vars file", VariablesError)
        if not isinstance(data, dict):
            raise VariablesError(f"vars file {path}: a vars file is a YAML map of variable names to values, "
                                 f"got {type(data).__name__}")
        values.update(data)
    for name, text in parse_var_flags(var_flags).items():
        try:
            values[name] = yaml.safe_load(text)
        except yaml.YAMLError:
            values[name] = text
    return values
