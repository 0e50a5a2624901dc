"""Reading a job's rendered config file (JSON, which is YAML too): one place for every job's loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_mapping(path: str | Path, error: type[Exception]) -> dict[str, Any]:
    """The mapping in ``path``; ``error`` naming the file when it is unreadable, not JSON/YAML, or not a mapping."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise error(f"cannot read config {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"config {path} is not valid JSON/YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise error(f"config {path} must hold a mapping of property names to values, got {type(raw).__name__}")
    return raw
