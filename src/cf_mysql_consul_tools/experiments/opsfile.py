"""BOSH ops-file operations (``replace`` / ``remove``) on a manifest, the subset experiments use.

Path segments: a key, a list index, ``name=value`` (the list element with that name), ``-``
(append, replace only); a trailing ``?`` on a segment makes a missing key or element not an
error (``remove`` then does nothing, ``replace`` creates it).
"""

from __future__ import annotations

import copy
from typing import Any


class OpsError(ValueError):
    """An operation cannot be applied; the message names the path."""


def _child(node: Any, seg: str, path: str, *, create: bool) -> Any:
    optional = seg.endswith("?")
    seg = seg.rstrip("?")
    if isinstance(node, list):
        if "=" in seg:
            key, value = seg.split("=", 1)
            for item in node:
                if isinstance(item, dict) and str(item.get(key)) == value:
                    return item
            if optional and create:
                item = {key: value}
                node.append(item)
                return item
            if optional:
                return None
            raise OpsError(f"{path}: no element with {key}={value}")
        return node[int(seg)]
    if isinstance(node, dict):
        if seg not in node:
            if optional and create:
                node[seg] = {}
            elif optional:
                return None
            else:
                raise OpsError(f"{path}: no key {seg!r}")
        return node[seg]
    raise OpsError(f"{path}: cannot descend into {type(node).__name__}")


def apply(manifest: dict[str, Any], operations: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """A copy of ``manifest`` with ``operations`` applied in order."""
    doc = copy.deepcopy(manifest)
    for op in operations:
        kind, path = op.get("type"), str(op.get("path", ""))
        segs = [s for s in path.split("/") if s]
        if kind not in ("replace", "remove") or not segs:
            raise OpsError(f"{path}: type must be replace or remove, with a path")
        node: Any = doc
        for seg in segs[:-1]:
            node = _child(node, seg, path, create=kind == "replace")
            if node is None:
                break
        if node is None:
            continue
        last = segs[-1]
        optional = last.endswith("?")
        last = last.rstrip("?")
        if kind == "remove":
            if isinstance(node, list):
                target = _child(node, last + ("?" if optional else ""), path, create=False)
                if target is not None:
                    node.remove(target)
            elif isinstance(node, dict):
                if last in node:
                    del node[last]
                elif not optional:
                    raise OpsError(f"{path}: no key {last!r}")
        elif isinstance(node, list) and last == "-":
            node.append(copy.deepcopy(op.get("value")))
        elif isinstance(node, list):
            target = _child(node, last + ("?" if optional else ""), path, create=True)
            node[node.index(target)] = copy.deepcopy(op.get("value"))
        else:
            node[last] = copy.deepcopy(op.get("value"))
    return doc
