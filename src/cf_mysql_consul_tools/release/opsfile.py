"""What ``bosh int`` does to a manifest, for the release lint: ops files and ``((variables))``.

Ops files follow go-patch: a list of ``{type: replace|remove, path: /a/b, value: ...}``. Path
tokens: ``key`` (map key), ``N`` (array index), ``-`` (append), ``key=value`` (the array item
whose ``key`` equals ``value``), ``...:before``/``...:after`` (insert next to that item); a
trailing ``?`` makes a token optional: ``replace`` then creates what is missing and ``remove``
of something missing does nothing. Variables ``((name))`` (and ``((name.field))``) are
replaced by given values; unknown ones become a placeholder string, as a ``--vars-store``
would generate them. Errors name the ops file and the operation.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

VAR_RE = re.compile(r"\(\(([!A-Za-z0-9_./-]+)\)\)")


class OpsError(ValueError):
    """An ops file is invalid or does not apply; the message names the file and operation."""


@dataclass(frozen=True, slots=True)
class Token:
    """One path token."""

    key: str | None = None
    index: int | None = None
    append: bool = False
    match: tuple[str, str] | None = None
    optional: bool = False
    insert: str | None = None  # "before" | "after": replace inserts next to the item


def parse_path(path: str) -> list[Token]:
    """Split a go-patch path (``/instance_groups/name=proxy/jobs/-``) into tokens."""
    if not path.startswith("/"):
        raise OpsError(f"path {path!r} must start with '/'")
    tokens: list[Token] = []
    for raw in path[1:].split("/"):
        optional = raw.endswith("?")
        text = raw[:-1] if optional else raw
        text = text.replace("~1", "/").replace("~0", "~")
        insert = None
        for modifier in ("before", "after"):
            if text.endswith(":" + modifier):
                insert, text = modifier, text[: -len(modifier) - 1]
        if text == "-":
            tokens.append(Token(append=True, optional=optional))
        elif re.fullmatch(r"-?\d+", text):
            tokens.append(Token(index=int(text), optional=optional, insert=insert))
        elif "=" in text:
            k, v = text.split("=", 1)
            tokens.append(Token(match=(k, v), optional=optional, insert=insert))
        else:
            tokens.append(Token(key=text, optional=optional))
    return tokens


def _apply_one(doc: Any, op: Mapping[str, Any]) -> Any:
    kind, path = op.get("type"), op.get("path")
    if kind not in ("replace", "remove") or not isinstance(path, str):
        raise OpsError(f"operation {dict(op)!r}: needs type replace|remove and a path")
    if kind == "replace" and "value" not in op:
        raise OpsError(f"replace {path}: needs a 'value'")
    tokens = parse_path(path)
    if not tokens or path == "/":
        return copy.deepcopy(op["value"]) if kind == "replace" else None
    parent = doc
    creating = False
    for i, tok in enumerate(tokens[:-1]):
        creating = creating or tok.optional
        nxt = tokens[i + 1]
        parent = _step(parent, tok, path, create=creating and kind == "replace", next_token=nxt)
        if parent is None:  # optional remove of something missing
            return doc
    last = tokens[-1]
    creating = creating or last.optional
    if kind == "replace":
        _set(parent, last, copy.deepcopy(op["value"]), path, create=creating)
    else:
        _remove(parent, last, path, optional=creating)
    return doc


def _step(node: Any, tok: Token, path: str, *, create: bool, next_token: Token) -> Any:
    empty: Any = [] if next_token.key is None else {}
    if tok.key is not None:
        if not isinstance(node, dict):
            raise OpsError(f"{path}: expected a map at '{tok.key}'")
        if tok.key not in node:
            if not create:
                if tok.optional:
                    return None
                raise OpsError(f"{path}: expected to find a map key '{tok.key}'")
            node[tok.key] = empty
        return node[tok.key]
    if not isinstance(node, list):
        raise OpsError(f"{path}: expected an array")
    if tok.index is not None:
        if not -len(node) <= tok.index < len(node):
            raise OpsError(f"{path}: array index {tok.index} out of bounds (size {len(node)})")
        return node[tok.index]
    if tok.append:
        node.append(empty)
        return node[-1]
    assert tok.match is not None
    k, v = tok.match
    found = [item for item in node if isinstance(item, dict) and str(item.get(k)) == v]
    if len(found) > 1:
        raise OpsError(f"{path}: several array items have {k}={v}")
    if found:
        return found[0]
    if not create:
        if tok.optional:
            return None
        raise OpsError(f"{path}: expected to find an array item with '{k}={v}'")
    item: dict[str, Any] = {k: v}
    node.append(item)
    return item


def _set(node: Any, tok: Token, value: Any, path: str, *, create: bool) -> None:
    if tok.key is not None:
        if not isinstance(node, dict):
            raise OpsError(f"{path}: expected a map at '{tok.key}'")
        if tok.key not in node and not create:
            raise OpsError(f"{path}: expected to find a map key '{tok.key}' (use '{tok.key}?' to add it)")
        node[tok.key] = value
        return
    if not isinstance(node, list):
        raise OpsError(f"{path}: expected an array")
    if tok.append:
        node.append(value)
    elif tok.index is not None:
        if not -len(node) <= tok.index < len(node):
            raise OpsError(f"{path}: array index {tok.index} out of bounds (size {len(node)})")
        _put(node, tok.index % len(node), value, tok.insert)
    else:
        assert tok.match is not None
        k, v = tok.match
        hits = [i for i, item in enumerate(node) if isinstance(item, dict) and str(item.get(k)) == v]
        if hits:
            _put(node, hits[0], value, tok.insert)
        elif create:
            node.append(value)
        else:
            raise OpsError(f"{path}: expected to find an array item with '{k}={v}'")


def _put(node: list[Any], position: int, value: Any, insert: str | None) -> None:
    if insert == "before":
        node.insert(position, value)
    elif insert == "after":
        node.insert(position + 1, value)
    else:
        node[position] = value


def _remove(node: Any, tok: Token, path: str, *, optional: bool) -> None:
    if tok.key is not None and isinstance(node, dict) and tok.key in node:
        del node[tok.key]
        return
    if isinstance(node, list):
        if tok.index is not None and -len(node) <= tok.index < len(node):
            del node[tok.index]
            return
        if tok.match is not None:
            k, v = tok.match
            hits = [i for i, item in enumerate(node) if isinstance(item, dict) and str(item.get(k)) == v]
            if hits:
                del node[hits[0]]
                return
    if not optional:
        raise OpsError(f"{path}: nothing to remove")


def load_yaml(path: Path) -> Any:
    """Read a YAML file; OpsError naming it when it is missing or invalid."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise OpsError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise OpsError(f"{path}: not valid YAML: {exc}") from exc


def apply_ops(manifest: Any, ops_files: list[Path]) -> Any:
    """Apply each ops file in order to a copy of ``manifest``; OpsError names the file and path."""
    doc = copy.deepcopy(manifest)
    for ops_path in ops_files:
        ops = load_yaml(ops_path)
        if not isinstance(ops, list):
            raise OpsError(f"{ops_path}: an ops file is a YAML list of operations")
        for op in ops:
            if not isinstance(op, dict):
                raise OpsError(f"{ops_path}: every operation is a map (type, path, value)")
            try:
                doc = _apply_one(doc, op)
            except OpsError as exc:
                raise OpsError(f"{ops_path}: {exc}") from None
    return doc


def interpolate_vars(node: Any, values: Mapping[str, Any]) -> Any:
    """Replace ``((name))`` everywhere: a whole-string variable takes the value's type; unknown
    variables become the placeholder string ``<name>-placeholder``."""

    def lookup(name: str) -> Any:
        name = name.lstrip("!")
        head, _, field = name.partition(".")
        if head in values:
            value = values[head]
            return value.get(field) if field and isinstance(value, dict) else value
        return f"{name.replace('/', '-')}-placeholder"

    if isinstance(node, dict):
        return {interpolate_vars(k, values): interpolate_vars(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_vars(v, values) for v in node]
    if isinstance(node, str):
        whole = VAR_RE.fullmatch(node)
        if whole:
            return lookup(whole.group(1))
        return VAR_RE.sub(lambda m: str(lookup(m.group(1))), node)
    return node


def interpolate(manifest_path: Path, ops_files: list[Path], values: Mapping[str, Any] | None = None) -> Any:
    """``bosh int MANIFEST -o OPS... -v ...``: the manifest with ops applied and vars replaced."""
    return interpolate_vars(apply_ops(load_yaml(manifest_path), ops_files), values or {})
