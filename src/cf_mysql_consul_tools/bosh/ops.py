"""Ops files, as ``bosh int -o`` applies them: go-patch's operations, paths and error messages.

An ops file is a YAML list of operations ``{type, path, value, absent, error}``:

- ``replace`` sets ``value`` at ``path`` (``value`` must be given and not null);
- ``remove`` deletes what ``path`` points at (a ``value`` is refused);
- ``test`` checks that ``path`` holds ``value``, or with ``absent: true`` that it does not exist;
- ``error`` (any type) prefixes a failure of that operation with its text.

Path tokens (after a leading ``/``; ``~0`` ``~``, ``~1`` ``/``, ``~7`` ``:``): ``key`` (a map
key), ``N`` (an array index, negative from the end), ``-`` (after the last item; the last token
only), ``key=value`` (the one array item whose ``key`` is the string ``value``). A ``?`` at the
end of a key or ``key=value`` token makes it and every later one optional: ``replace`` creates
what is missing, ``remove`` of something missing does nothing. Index and ``key=value`` tokens
take modifiers: ``:prev`` / ``:next`` move to the item before / after, and ``:before`` /
``:after`` (``replace``, last token only) insert next to the item instead of replacing it. A
key token takes no modifier.

This module is a reading of cppforlife/go-patch (the library the bosh CLI uses): what it
rejects is rejected here with the same words, so a failure reads as ``bosh int`` would print it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from cf_mysql_consul_tools.yamlfile import read_yaml


class OpsError(ValueError):
    """An ops file or operation is invalid, or does not apply; the message says where and why."""


class MissingError(OpsError):
    """The path names a map key or array index that is not there (``path``: up to that token)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


# ---- paths --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class IndexToken:
    """``N`` (with ``:prev``/``:next``/``:before``/``:after`` modifiers)."""

    index: int
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AfterLastIndexToken:
    """``-``: after the last item of an array."""


@dataclass(frozen=True, slots=True)
class MatchingIndexToken:
    """``key=value``: the one array item (a map) whose ``key`` is the string ``value``."""

    key: str
    value: str
    optional: bool = False
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyToken:
    """A map key."""

    key: str
    optional: bool = False


Token: TypeAlias = IndexToken | AfterLastIndexToken | MatchingIndexToken | KeyToken
MODIFIERS = ("prev", "next", "before", "after")
_GO_NAMES = {IndexToken: "patch.IndexToken", AfterLastIndexToken: "patch.AfterLastIndexToken",
             MatchingIndexToken: "patch.MatchingIndexToken", KeyToken: "patch.KeyToken"}
_GO_MODIFIERS = {"prev": "patch.PrevModifier", "next": "patch.NextModifier",
                 "before": "patch.BeforeModifier", "after": "patch.AfterModifier"}


_DECODED = {"~0": "~", "~1": "/", "~7": ":"}
_ENCODED = {v: k for k, v in _DECODED.items()}


def _decode(text: str) -> str:
    """``~0`` ``~``, ``~1`` ``/``, ``~7`` ``:``, in one pass (``~01`` is ``~1``)."""
    return re.sub("~[017]", lambda m: _DECODED[m.group()], text)


def _encode(text: str) -> str:
    return re.sub("[~/:]", lambda m: _ENCODED[m.group()], text)


@dataclass(frozen=True, slots=True)
class Pointer:
    """A parsed path: the tokens after the root (empty for the whole document)."""

    tokens: tuple[Token, ...]

    @classmethod
    def parse(cls, text: str) -> Pointer:
        """Parse a path as go-patch does; OpsError with go-patch's words when it is malformed."""
        if text == "":
            return cls(())
        if not text.startswith("/"):
            raise OpsError("Expected to start with '/'")
        pieces = text.split("/")[1:]
        tokens: list[Token] = []
        optional = False
        for i, raw in enumerate(pieces):
            is_last = i == len(pieces) - 1
            parts = raw.split(":")
            tok = parts[0]
            for modifier in parts[1:]:
                if modifier not in MODIFIERS:
                    raise OpsError("Expected to find one of the following modifiers: 'prev', 'next', 'before', "
                                   f"or 'after' but found '{parts[1]}'")
            modifiers = tuple(parts[1:])
            tok = _decode(tok)
            if is_last and tok == "-":
                if modifiers:
                    raise OpsError("Expected not to find any modifiers with after last index token")
                tokens.append(AfterLastIndexToken())
                continue
            index = _go_atoi(tok)
            if index is not None:
                tokens.append(IndexToken(index, modifiers))
                continue
            if tok.endswith("?"):
                optional = True
            key, eq, value = tok.partition("=")
            if eq:
                tokens.append(MatchingIndexToken(key, value.removesuffix("?"), optional, modifiers))
                continue
            if modifiers:
                raise OpsError("Expected not to find any modifiers with key token")
            tokens.append(KeyToken(tok.removesuffix("?"), optional))
        return cls(tuple(tokens))

    def prefix(self, count: int) -> Pointer:
        """The first ``count`` tokens (go-patch names the path up to the failing token)."""
        return Pointer(self.tokens[:count])

    def __str__(self) -> str:
        out = [""]
        optional = False
        for tok in self.tokens:
            if isinstance(tok, IndexToken):
                out.append(f"{tok.index}{_modifiers(tok.modifiers)}")
            elif isinstance(tok, AfterLastIndexToken):
                out.append("-")
            elif isinstance(tok, MatchingIndexToken):
                value = _encode(tok.value)
                if tok.optional and not optional:
                    value, optional = value + "?", True
                out.append(f"{_encode(tok.key)}={value}{_modifiers(tok.modifiers)}")
            else:
                key = _encode(tok.key)
                if tok.optional and not optional:
                    key, optional = key + "?", True
                out.append(key)
        return "/".join(out)


def _modifiers(modifiers: tuple[str, ...]) -> str:
    return "".join(f":{m}" for m in modifiers)


def _go_atoi(text: str) -> int | None:
    """Go's strconv.Atoi: an optional sign and decimal digits, nothing else."""
    body = text[1:] if text[:1] in "+-" else text
    return int(text) if body.isascii() and body.isdigit() else None


# ---- errors with go-patch's words -----------------------------------------------------------

def _go_type(obj: Any) -> str:
    """What Go's %T prints for a value decoded from YAML."""
    if obj is None:
        return "<nil>"
    if isinstance(obj, dict):
        return "map[interface {}]interface {}"
    if isinstance(obj, list):
        return "[]interface {}"
    return {bool: "bool", int: "int", float: "float64", str: "string"}.get(type(obj), type(obj).__name__)


def _mismatch(kind: str, path: Pointer, obj: Any) -> OpsError:
    return OpsError(f"Expected to find {kind} at path '{path}' but found '{_go_type(obj)}'")


def _missing_key(key: str, path: Pointer, obj: dict[Any, Any]) -> MissingError:
    keys = sorted(k for k in obj if isinstance(k, str))
    found = "found map keys: '" + "', '".join(keys) + "'" if keys else "found no other map keys"
    return MissingError(f"Expected to find a map key '{key}' for path '{path}' ({found})", str(path))


def _missing_index(index: int, array: list[Any], path: Pointer) -> MissingError:
    return MissingError(f"Expected to find array index '{index}' but found array of length '{len(array)}' "
                        f"for path '{path}'", str(path))


def _unexpected(tok: Token, path: Pointer) -> OpsError:
    return OpsError(f"Expected to not find token '{_GO_NAMES[type(tok)]}' at path '{path}'")


def _concrete_index(index: int, modifiers: Iterable[str], array: list[Any], path: Pointer) -> int:
    """go-patch's ArrayIndex: ``index`` moved by ``:prev``/``:next``, checked, negative from the end."""
    result = index
    for modifier in modifiers:
        if modifier == "prev":
            result -= 1
        elif modifier == "next":
            result += 1
        else:
            raise OpsError("Expected to find one of the following modifiers: 'prev', 'next', but found modifier "
                           f"'{_GO_MODIFIERS[modifier]}'")
    if result >= len(array) or -result - 1 >= len(array):
        raise _missing_index(result, array, path)
    return result + len(array) if result < 0 else result


def _insertion(index: int, modifiers: tuple[str, ...], array: list[Any], path: Pointer) -> tuple[int, bool]:
    """go-patch's ArrayInsertion: (position, insert?) for the last token of a ``replace``."""
    moves: list[str] = []
    placed: str | None = None
    for modifier in modifiers:
        if placed is not None:
            raise OpsError(f"Expected to not find any modifiers after '{placed}' modifier, but found modifier "
                           f"'{_GO_MODIFIERS[modifier]}'")
        if modifier in ("before", "after"):
            placed = modifier
        else:
            moves.append(modifier)
    position = _concrete_index(index, moves, array, path)
    if placed == "after":
        position += 1
    return position, placed is not None


def _matches(array: list[Any], tok: MatchingIndexToken) -> list[int]:
    return [i for i, item in enumerate(array) if isinstance(item, dict) and _same(item.get(tok.key), tok.value)]


def _same(a: Any, b: Any) -> bool:
    """Go's == / reflect.DeepEqual on YAML values: equal values of the same type (1 is not 1.0 nor true)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# ---- operations -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReplaceOp:
    """Set ``value`` at ``path``."""

    path: Pointer
    value: Any

    def apply(self, doc: Any) -> Any:
        """The document with the value set (``doc`` is changed in place where it can be)."""
        value = copy.deepcopy(self.value)
        tokens = self.path.tokens
        if not tokens:
            return value
        root: list[Any] = [doc]
        parent: Any = root
        slot: Any = 0
        for i, tok in enumerate(tokens):
            obj = parent[slot]
            here = self.path.prefix(i + 1)
            is_last = i == len(tokens) - 1
            if isinstance(tok, IndexToken):
                if not isinstance(obj, list):
                    raise _mismatch("an array", here, obj)
                if is_last:
                    position, insert = _insertion(tok.index, tok.modifiers, obj, here)
                    if insert:
                        obj.insert(position, value)
                    else:
                        obj[position] = value
                else:
                    parent, slot = obj, _concrete_index(tok.index, tok.modifiers, obj, here)
            elif isinstance(tok, AfterLastIndexToken):
                if not isinstance(obj, list):
                    raise _mismatch("an array", here, obj)
                obj.append(value)
            elif isinstance(tok, MatchingIndexToken):
                if not isinstance(obj, list):
                    raise _mismatch("an array", here, obj)
                found = _matches(obj, tok)
                if tok.optional and not found:
                    obj.append(value if is_last else {tok.key: tok.value})
                    parent, slot = obj, len(obj) - 1
                    continue
                if len(found) != 1:
                    raise OpsError(f"Expected to find exactly one matching array item for path '{here}' but "
                                   f"found {len(found)}")
                if is_last:
                    position, insert = _insertion(found[0], tok.modifiers, obj, here)
                    if insert:
                        obj.insert(position, value)
                    else:
                        obj[position] = value
                else:
                    parent, slot = obj, _concrete_index(found[0], tok.modifiers, obj, here)
            else:
                if not isinstance(obj, dict):
                    raise _mismatch("a map", here, obj)
                if tok.key not in obj and not tok.optional:
                    raise _missing_key(tok.key, here, obj)
                if is_last:
                    obj[tok.key] = value
                    continue
                if tok.key not in obj:
                    following = tokens[i + 1]
                    if isinstance(following, (AfterLastIndexToken, MatchingIndexToken)):
                        obj[tok.key] = []
                    elif isinstance(following, KeyToken):
                        obj[tok.key] = {}
                    else:
                        raise OpsError("Expected to find key, matching index or after last index token at path "
                                       f"'{self.path.prefix(i + 2)}'")
                parent, slot = obj, tok.key
        return root[0]


@dataclass(frozen=True, slots=True)
class RemoveOp:
    """Delete what ``path`` points at."""

    path: Pointer

    def apply(self, doc: Any) -> Any:
        """The document without it (``doc`` is changed in place)."""
        tokens = self.path.tokens
        if not tokens:
            raise OpsError("Cannot remove entire document")
        obj = doc
        for i, tok in enumerate(tokens):
            here = self.path.prefix(i + 1)
            is_last = i == len(tokens) - 1
            if isinstance(tok, (IndexToken, MatchingIndexToken)):
                if not isinstance(obj, list):
                    raise _mismatch("an array", here, obj)
                if isinstance(tok, IndexToken):
                    index = _concrete_index(tok.index, tok.modifiers, obj, here)
                else:
                    found = _matches(obj, tok)
                    if tok.optional and not found:
                        return doc
                    if len(found) != 1:
                        raise OpsError(f"Expected to find exactly one matching array item for path '{here}' but "
                                       f"found {len(found)}")
                    index = _concrete_index(found[0], tok.modifiers, obj, here)
                if is_last:
                    del obj[index]
                else:
                    obj = obj[index]
            elif isinstance(tok, KeyToken):
                if not isinstance(obj, dict):
                    raise _mismatch("a map", here, obj)
                if tok.key not in obj:
                    if tok.optional:
                        return doc
                    raise _missing_key(tok.key, here, obj)
                if is_last:
                    del obj[tok.key]
                else:
                    obj = obj[tok.key]
            else:
                raise _unexpected(tok, here)
        return doc


def find(doc: Any, path: Pointer) -> Any:
    """What ``path`` points at (go-patch's FindOp): OpsError when it is not there."""
    obj = doc
    for i, tok in enumerate(path.tokens):
        here = path.prefix(i + 1)
        if isinstance(tok, AfterLastIndexToken):
            raise OpsError(f"Expected not to find after last index token in path '{path}' "
                           "(not supported in find operations)")
        if isinstance(tok, (IndexToken, MatchingIndexToken)):
            if not isinstance(obj, list):
                raise _mismatch("an array", here, obj)
            if isinstance(tok, MatchingIndexToken):
                found = _matches(obj, tok)
                if tok.optional and not found:
                    obj = {tok.key: tok.value}
                    continue
                if len(found) != 1:
                    raise OpsError(f"Expected to find exactly one matching array item for path '{here}' but "
                                   f"found {len(found)}")
                obj = obj[_concrete_index(found[0], tok.modifiers, obj, here)]
            else:
                obj = obj[_concrete_index(tok.index, tok.modifiers, obj, here)]
            continue
        if not isinstance(obj, dict):
            raise _mismatch("a map", here, obj)
        if tok.key not in obj and not tok.optional:
            raise _missing_key(tok.key, here, obj)
        if tok.key in obj or i == len(path.tokens) - 1:
            obj = obj.get(tok.key)
            continue
        following = path.tokens[i + 1]
        if isinstance(following, MatchingIndexToken):
            obj = []
        elif isinstance(following, KeyToken):
            obj = {}
        else:
            raise OpsError(f"Expected to find key or matching index token at path '{path.prefix(i + 2)}'")
    return obj


@dataclass(frozen=True, slots=True)
class TestOp:
    """Check that ``path`` holds ``value`` (or, ``absent``, that it does not exist)."""

    path: Pointer
    value: Any = None
    absent: bool = False

    def apply(self, doc: Any) -> Any:
        """The document unchanged, or OpsError."""
        try:
            found = find(doc, self.path)
        except MissingError as exc:
            if self.absent and exc.path == str(self.path):
                return doc
            raise
        if self.absent:
            raise OpsError(f"Expected to not find '{self.path}'")
        if not _same(found, self.value):
            raise OpsError("Found value does not match expected value")
        return doc


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of an ops file, with where it came from (``source``, position) for messages."""

    op: ReplaceOp | RemoveOp | TestOp
    source: str
    position: int
    error: str | None = None

    def apply(self, doc: Any) -> Any:
        """Apply it; OpsError naming the source, the operation and its path when it fails."""
        try:
            return self.op.apply(doc)
        except OpsError as exc:
            reason = f"Error '{self.error}': {exc}" if self.error is not None else str(exc)
            kind = type(self.op).__name__.removesuffix("Op").lower()
            raise OpsError(f"{self.source}: operation [{self.position}] ({kind} {self.op.path}): {reason}") from None


Ops: TypeAlias = Sequence[Operation]


def _describe(definition: dict[str, Any]) -> str:
    """go-patch's rendering of an operation in a parse error (the value redacted)."""
    shown = {k.capitalize(): ("<redacted>" if k == "value" else definition[k])
             for k in ("type", "path", "value", "absent", "error") if definition.get(k) is not None}
    return json.dumps(shown, indent=2)


def parse_ops(definitions: Any, *, source: str) -> list[Operation]:
    """Operations from an ops file's YAML data; OpsError naming ``source`` and the operation when invalid."""
    if definitions is None:
        return []
    if not isinstance(definitions, list):
        raise OpsError(f"{source}: an ops file is a YAML list of operations (type, path, value), "
                       f"got {_go_type(definitions)}")
    return [_parse_op(definition, i, source) for i, definition in enumerate(definitions)]


def _parse_op(definition: Any, index: int, source: str) -> Operation:
    """go-patch's NewOpsFromDefinitions for one operation, with its messages."""
    if not isinstance(definition, dict):
        raise OpsError(f"{source}: operation [{index}] must be a map (type, path, value), got {definition!r}")
    kind = definition.get("type")
    path, value = definition.get("path"), definition.get("value")
    label = {"replace": "Replace", "remove": "Remove", "test": "Test"}.get(str(kind))
    shown = _describe(definition)
    if label is None:
        raise OpsError(f"{source}: Unknown operation [{index}] with type '{kind or ''}' within\n{shown}")
    reason = None
    if path is None:
        reason = "Missing path"
    elif kind == "replace" and value is None:
        reason = "Missing value"
    elif kind == "remove" and value is not None:
        reason = "Cannot specify value"
    elif kind == "test" and value is None and definition.get("absent") is None:
        reason = "Missing value or absent"
    else:
        try:
            pointer = Pointer.parse(str(path))
        except OpsError as exc:
            reason = f"Invalid path: {exc}"
    if reason is not None:
        raise OpsError(f"{source}: {label} operation [{index}]: {reason} within\n{shown}")
    op: ReplaceOp | RemoveOp | TestOp
    if kind == "replace":
        op = ReplaceOp(pointer, value)
    elif kind == "remove":
        op = RemoveOp(pointer)
    else:
        op = TestOp(pointer, value, bool(definition.get("absent")))
    error = definition.get("error")
    return Operation(op, source, index, None if error is None else str(error))


def load_ops_file(path: Path) -> list[Operation]:
    """The operations of an ops file; OpsError naming the file when it is missing, not YAML or invalid."""
    return parse_ops(read_yaml(path, "ops file", OpsError), source=str(path))


def apply_ops(doc: Any, ops: Iterable[Operation]) -> Any:
    """A copy of ``doc`` with ``ops`` applied in order (``doc`` itself is not changed)."""
    out = copy.deepcopy(doc)
    for op in ops:
        out = op.apply(out)
    return out
