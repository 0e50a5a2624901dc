"""Render a BOSH job's ERB templates as the BOSH director would, with real Ruby ERB.

All templates of one job are rendered in ONE ``ruby render.rb`` call: the request (instance spec,
declared property defaults, the manifest's properties, links, template sources) goes in as JSON
on stdin, the rendered contents or structured errors, and the property names each template asked
for, come back as JSON on stdout. Python only loads the spec, builds the request, and writes the
files (``bin/*`` executable, like the agent). :func:`render_templates` returns everything (the
release lint); :func:`render_job` writes the files or raises (the lab).

What templates see (see ``render.rb``): ``p``, ``if_p``, ``link``, ``if_link``, ``spec.*``
(``spec.job.name`` is the instance group's name, as in BOSH), ``properties``/``raw_properties``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cf_mysql_consul_tools.bosh.jobspec import JobSpec, RenderError, load_job_spec

__all__ = [
    "RENDER_RB",
    "InstanceSpec",
    "JobSpec",
    "Link",
    "LinkInstance",
    "RenderError",
    "Rendered",
    "TemplateError",
    "load_job_spec",
    "render_job",
    "render_templates",
]

RENDER_RB = Path(__file__).with_name("render.rb")
RUBY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """The instance a job is rendered for: what ``spec.*`` shows a template.

    ``networks`` defaults to one network ``default`` carrying ``ip`` (dns and gateway default).
    """

    deployment: str
    name: str
    index: int
    id: str
    address: str
    ip: str
    az: str = "z1"
    bootstrap: bool = False
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.networks:
            default = {"default": {"ip": self.ip, "default": ["dns", "gateway"]}}
            object.__setattr__(self, "networks", default)

    @property
    def label(self) -> str:
        """``group/index``, as BOSH names an instance in messages."""
        return f"{self.name}/{self.index}"


@dataclass(frozen=True, slots=True)
class LinkInstance:
    """One instance of a link's provider (``link("x").instances[i]``)."""

    name: str
    index: int
    id: str
    address: str
    az: str = "z1"
    bootstrap: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    """A resolved link: the provider's instances and its (merged) properties, nested.

    ``address`` is what ``link("x").address`` answers (BOSH gives a DNS name for the group); when
    None, calling it in a template is an error.
    """

    instances: tuple[LinkInstance, ...]
    properties: dict[str, Any]
    address: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateError:
    """One template that failed (``template`` None: binding the properties failed before any ran)."""

    template: str | None
    line: int | None
    message: str

    def describe(self, instance: InstanceSpec, job: str) -> str:
        """The director's wording: ``Error filling in template 'SRC' (line N) for GROUP/INDEX (job 'JOB'): ...``."""
        where = f"for {instance.label} (job '{job}')"
        if self.template is None:
            return f"Error binding properties {where}: {self.message}"
        return f"Error filling in template '{self.template}' (line {self.line or 'unknown'}) {where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Rendered:
    """Every template of one job rendered for one instance.

    ``files``: destination (``config/x.yml``, ``monit``) -> content, for the templates that
    rendered; ``errors``: the templates that failed; ``properties_read``: template source ->
    every property name it gave to ``p`` or ``if_p``.
    """

    files: dict[str, str]
    errors: tuple[TemplateError, ...]
    properties_read: dict[str, tuple[str, ...]]


def render_templates(
    job_dir: Path, *, instance: InstanceSpec, properties: dict[str, Any], links: dict[str, Link] | None = None,
) -> Rendered:
    """Render every template of the job in ``job_dir`` for ``instance``, writing nothing.

    ``properties`` is the manifest's nested property hash for this job; only properties declared
    in the job spec are visible, with the spec's defaults under the manifest's values. ``links``
    maps consumed link names to providers; links the job does not consume are ignored. A failing
    template is reported in ``errors``; RenderError when the spec or a template source is
    missing or Ruby cannot run.
    """
    job = load_job_spec(Path(job_dir))
    sources = _read_sources(job)
    result = _run_ruby(_request(job, instance, properties, links or {}, sources), job, instance)
    dests = dict(_destinations(job, sources))
    return Rendered(
        files={dests[src]: text for src, text in (result.get("rendered") or {}).items() if src in dests},
        errors=tuple(TemplateError(e.get("template"), e.get("line") or None,
                                   str(e.get("message") or e.get("class") or "unknown error"))
                     for e in result.get("errors") or []),
        properties_read={src: tuple(names) for src, names in (result.get("properties_read") or {}).items()},
    )


def render_job(
    job_dir: Path,
    *,
    instance: InstanceSpec,
    properties: dict[str, Any],
    links: dict[str, Link] | None = None,
    out_dir: Path,
) -> list[Path]:
    """Render every template of the job in ``job_dir`` for ``instance`` into ``out_dir``.

    See :func:`render_templates`. Writes ``out_dir/<destination>`` for each template (``bin/*``
    mode 0755, others 0644) and, when the job has a ``monit`` file, ``out_dir/monit``; returns
    the written paths in spec order, monit last. Nothing is written unless every template
    renders: RenderError with one line per failing template otherwise.
    """
    rendered = render_templates(job_dir, instance=instance, properties=properties, links=links)
    if rendered.errors:
        job = load_job_spec(Path(job_dir)).name
        raise RenderError("\n".join(e.describe(instance, job) for e in rendered.errors))
    written: list[Path] = []
    for dest, text in rendered.files.items():
        path = Path(out_dir) / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        path.chmod(0o755 if Path(dest).parts[0] == "bin" else 0o644)
        written.append(path)
    return written


def _read_sources(job: JobSpec) -> dict[str, str]:
    """Template source name -> content, plus ``monit`` (from the job root) when present."""
    sources: dict[str, str] = {}
    for source in job.templates:
        path = job.path / "templates" / source
        try:
            sources[source] = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RenderError(
                f"template {source!r} listed in {job.path / 'spec'} does not exist: {path}"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RenderError(f"cannot read template {path}: {exc}") from exc
    monit = job.path / "monit"
    if monit.is_file() and "monit" not in sources:
        sources["monit"] = monit.read_text(encoding="utf-8")
    return sources


def _destinations(job: JobSpec, sources: Mapping[str, str]) -> list[tuple[str, str]]:
    pairs = list(job.templates.items())
    if "monit" in sources and "monit" not in job.templates:
        pairs.append(("monit", "monit"))
    return pairs


def _request(
    job: JobSpec,
    instance: InstanceSpec,
    properties: dict[str, Any],
    links: dict[str, Link],
    sources: dict[str, str],
) -> dict[str, Any]:
    """The JSON document render.rb reads (its header comment documents the shape)."""
    consumed = {c["name"]: {"optional": c["optional"]} for c in job.consumes}
    spec = {
        "deployment": instance.deployment,
        # BOSH's template spec: `job` is the instance group's spec, so spec.job.name is the group.
        "job": {"name": instance.name, "templates": [{"name": job.name}]},
        "index": instance.index,
        "bootstrap": instance.bootstrap,
        "name": instance.name,
        "id": instance.id,
        "az": instance.az,
        "networks": instance.networks,
        "address": instance.address,
        "ip": instance.ip,
    }
    return {
        "job": job.name,
        "instance": instance.label,
        "spec": spec,
        "property_defaults": {name: p["default"] for name, p in job.properties.items()},
        "manifest_properties": properties,
        "consumes": consumed,
        "links": {
            name: {
                "instances": [asdict(i) for i in link.instances],
                "properties": link.properties,
                "address": link.address,
            }
            for name, link in links.items()
            if name in consumed
        },
        "templates": [{"source": s, "content": c} for s, c in sources.items()],
    }


def _run_ruby(request: dict[str, Any], job: JobSpec, instance: InstanceSpec) -> dict[str, Any]:
    where = f"job '{job.name}' for {instance.label}"
    ruby = shutil.which("ruby")
    if ruby is None:
        raise RenderError(
            f"cannot render {where}: Ruby is not installed (install Debian's `ruby` package: "
            "apt-get install ruby)"
        )
    try:
        payload = json.dumps(request)
    except (TypeError, ValueError) as exc:
        raise RenderError(f"cannot render {where}: properties are not JSON-serialisable: {exc}") from exc
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    try:
        proc = subprocess.run(
            [ruby, "--disable-gems", str(RENDER_RB)],
            input=payload.encode("utf-8"),
            capture_output=True,
            timeout=RUBY_TIMEOUT_SECONDS,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RenderError(f"rendering {where} took over {RUBY_TIMEOUT_SECONDS:g}s (ruby killed)") from None
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    try:
        result = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        result = None
    if proc.returncode != 0 or not isinstance(result, dict):
        raise RenderError(f"{RENDER_RB} failed rendering {where} (exit {proc.returncode}): {stderr[-2000:]}")
    return result
