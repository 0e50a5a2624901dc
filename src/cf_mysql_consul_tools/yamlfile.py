"""Reading one YAML file that a person wrote: every failure is one line naming the file and where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def describe(exc: yaml.YAMLError) -> str:
    """``line 2, column 1: expected ',' or ']'``: where the parser stopped and why, on one line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def read_yaml(path: Path, what: str, error: type[Exception]) -> Any:
    """The data of ``path``; ``error`` (``what`` and the file named) when it is missing, unreadable or not YAML."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {describe(exc)}") from None
