"""Loading a BOSH job's ``spec`` file.

A job directory holds ``spec`` (YAML), ``templates/`` and usually ``monit``. The spec says which
templates exist and where they go (``templates``: source under ``templates/`` -> destination under
``/var/vcap/jobs/JOB/``), which properties the job may see (with ``description`` and ``default``),
and which links it ``provides`` and ``consumes``. Only what the renderer and the release lint need is
kept; the YAML is checked for shape so a broken spec fails here, naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from cf_mysql_consul_tools.yamlfile import read_yaml


class RenderError(Exception):
    """A job could not be rendered: bad spec, missing template, template error, or no Ruby.

    The message names the file, or the instance group, job and template, and keeps the
    underlying reason (for template errors, the template's own message) intact.
    """


class ProvidesDecl(TypedDict):
    """A ``provides`` entry: ``properties`` are the provider's property names the link exposes."""

    name: str
    type: str
    properties: list[str]


class ConsumesDecl(TypedDict):
    """A ``consumes`` entry; templates call ``link(name)``."""

    name: str
    type: str
    optional: bool


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A parsed job ``spec``; ``path`` is the job directory it came from.

    Declarations are plain dicts, normalised: every property has ``description`` and
    ``default`` (None when absent; ``type``/``example`` kept when given), every consumes entry
    ``optional``, every provides entry ``properties``.
    """

    name: str
    path: Path
    templates: dict[str, str]
    packages: tuple[str, ...] = ()
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    provides: tuple[ProvidesDecl, ...] = ()
    consumes: tuple[ConsumesDecl, ...] = ()

    def consumed(self, name: str) -> ConsumesDecl | None:
        """The ``consumes`` entry called ``name``, or None when the job does not declare it."""
        return next((c for c in self.consumes if c["name"] == name), None)

    def value(self, properties: dict[str, Any], name: str) -> Any:
        """What ``p(name)`` gives a template: the manifest's value at dotted ``name`` unless unset
        (nil), else the spec's default (None when the spec declares none)."""
        node: Any = properties
        for key in name.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        return (self.properties.get(name) or {}).get("default") if node is None else node


def load_job_spec(job_dir: Path) -> JobSpec:
    """Parse ``job_dir/spec``.

    Raises RenderError (naming the spec file) when it is missing, is not valid YAML, or has the
    wrong shape (no ``name``, ``templates`` not a map of strings, a link without ``name``...).
    """
    spec_path = Path(job_dir) / "spec"
    doc = read_yaml(spec_path, "job spec", RenderError)
    if not isinstance(doc, dict):
        raise RenderError(f"job spec {spec_path}: expected a YAML map at the top level")
    return parse_job_spec(doc, spec_path)


def parse_job_spec(doc: dict[str, Any], spec_path: Path) -> JobSpec:
    """A job spec from its YAML data (``spec_path`` names it in errors and becomes ``path``'s parent)."""
    def fail(what: str) -> RenderError:
        return RenderError(f"job spec {spec_path}: {what}")

    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise fail("'name' must be a non-empty string")
    templates = doc.get("templates") or {}
    if not isinstance(templates, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in templates.items()
    ):
        raise fail("'templates' must map template sources to destination paths (strings)")
    for source, dest in templates.items():
        for label, rel in (("source", source), ("destination", dest)):
            parts = Path(rel).parts
            if not rel or Path(rel).is_absolute() or ".." in parts:
                raise fail(f"template {label} {rel!r} must be a relative path without '..'")
    packages = doc.get("packages") or []
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        raise fail("'packages' must be a list of package names")
    raw_props = doc.get("properties") or {}
    if not isinstance(raw_props, dict):
        raise fail("'properties' must be a map of property names")
    properties: dict[str, dict[str, Any]] = {}
    for prop_name, body in raw_props.items():
        if not isinstance(prop_name, str):
            raise fail(f"property name {prop_name!r} must be a string")
        body = body or {}
        if not isinstance(body, dict):
            raise fail(f"property {prop_name!r} must be a map (description, default, ...)")
        decl: dict[str, Any] = {
            "description": str(body.get("description") or ""),
            "default": body.get("default"),
        }
        if "type" in body:
            decl["type"] = str(body["type"])
        if "example" in body:
            decl["example"] = body["example"]
        properties[prop_name] = decl
    provides = tuple(
        ProvidesDecl(name=e["name"], type=e["type"], properties=[str(n) for n in e.get("properties") or []])
        for e in _link_entries(doc, "provides", fail)
    )
    consumes = tuple(
        ConsumesDecl(name=e["name"], type=e["type"], optional=bool(e.get("optional", False)))
        for e in _link_entries(doc, "consumes", fail)
    )
    return JobSpec(
        name=name,
        path=spec_path.parent,
        templates=dict(templates),
        packages=tuple(packages),
        properties=properties,
        provides=provides,
        consumes=consumes,
    )


def _link_entries(doc: dict[str, Any], key: str, fail: Callable[[str], RenderError]) -> list[dict[str, Any]]:
    entries = doc.get(key) or []
    if not isinstance(entries, list):
        raise fail(f"'{key}' must be a list of links")
    seen: set[str] = set()
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)):
            raise fail(f"every '{key}' entry needs a 'name' (got {entry!r})")
        if not isinstance(entry.get("type"), str):
            raise fail(f"{key} link {entry['name']!r} needs a 'type'")
        if entry["name"] in seen:
            raise fail(f"{key} link {entry['name']!r} is declared twice")
        seen.add(entry["name"])
    return entries
