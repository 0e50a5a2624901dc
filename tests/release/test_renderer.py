"""The BOSH template renderer, with real Ruby ERB (no mocks).

Most tests write a tiny job into tmp_path (``make_job``) so each one checks one feature of the
director's evaluation context; ``fixtures/demo-proxy`` is a realistic job rendered end to end.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from cf_mysql_consul_tools.bosh.render import (
    InstanceSpec,
    JobSpec,
    Link,
    LinkInstance,
    RenderError,
    load_job_spec,
    render_job,
)

FIXTURES = Path(__file__).parent / "fixtures"

INSTANCE = InstanceSpec(
    deployment="cf-mysql",
    name="proxy",
    index=1,
    id="6a1f3c2e-0b1d-4c55-9a0e-5d7f0e1c2b3a",
    address="127.0.10.5",
    ip="127.0.10.5",
    az="z2",
    bootstrap=True,
)

MYSQL = Link(
    instances=(
        LinkInstance(name="mysql", index=0, id="m-0", address="127.0.10.1", az="z1", bootstrap=True),
        LinkInstance(name="mysql", index=1, id="m-1", address="127.0.10.2", az="z2"),
    ),
    properties={"port": 3306, "cluster": {"name": "galera"}},
)


def make_job(
    root: Path,
    templates: dict[str, str],
    *,
    properties: dict[str, Any] | None = None,
    consumes: list[dict[str, Any]] | None = None,
    destinations: dict[str, str] | None = None,
    name: str = "mini",
) -> Path:
    """Write a job ``name`` with the given template sources; destinations default to config/SRC."""
    job_dir = root / "jobs" / name
    (job_dir / "templates").mkdir(parents=True)
    dests = destinations or {src: f"config/{src.removesuffix('.erb')}" for src in templates}
    spec = {"name": name, "templates": dests, "packages": [], "properties": properties or {}}
    if consumes:
        spec["consumes"] = consumes
    (job_dir / "spec").write_text(yaml.safe_dump(spec))
    for src, content in templates.items():
        (job_dir / "templates" / src).write_text(content)
    return job_dir


def render_one(
    tmp_path: Path,
    template: str,
    *,
    declared: dict[str, Any] | None = None,
    manifest: dict[str, Any] | None = None,
    consumes: list[dict[str, Any]] | None = None,
    links: dict[str, Link] | None = None,
    instance: InstanceSpec = INSTANCE,
) -> str:
    """Render a one-template job and return the output."""
    job_dir = make_job(tmp_path, {"t.erb": template}, properties=declared, consumes=consumes)
    (path,) = render_job(
        job_dir, instance=instance, properties=manifest or {}, links=links, out_dir=tmp_path / "out"
    )
    return path.read_text()


def render_error(tmp_path: Path, template: str, **kwargs: Any) -> str:
    with pytest.raises(RenderError) as info:
        render_one(tmp_path, template, **kwargs)
    return str(info.value)


# --- properties -------------------------------------------------------------------------------

PORTS = {"proxy.port": {"description": "port", "default": 3306}, "proxy.api_password": {}}


def test_p_returns_the_manifest_value_over_the_spec_default(tmp_path: Path) -> None:
    out = render_one(tmp_path, "<%= p('proxy.port') %>", declared=PORTS, manifest={"proxy": {"port": 4000}})
    assert out == "4000"


def test_p_falls_back_to_the_spec_default(tmp_path: Path) -> None:
    assert render_one(tmp_path, "<%= p('proxy.port') %>", declared=PORTS) == "3306"


def test_p_default_argument_is_used_only_when_unset(tmp_path: Path) -> None:
    template = "<%= p('proxy.api_password', 'dflt') %>|<%= p('proxy.port', 1) %>"
    assert render_one(tmp_path, template, declared=PORTS) == "dflt|3306"
    assert render_one(
        tmp_path / "b", template, declared=PORTS, manifest={"proxy": {"api_password": "s"}}
    ) == ("s|3306")


def test_p_without_default_on_an_unset_property_raises_boshs_message(tmp_path: Path) -> None:
    message = render_error(tmp_path, "ok\n<%= p('proxy.api_password') %>\n", declared=PORTS)
    assert message == (
        "Error filling in template 't.erb' (line 2) for proxy/1 (job 'mini'): "
        "Can't find property '[\"proxy.api_password\"]'"
    )


def test_p_with_a_list_of_names_takes_the_first_one_set(tmp_path: Path) -> None:
    declared = {"a.first": {}, "a.second": {"default": "second"}, "a.third": {}}
    out = render_one(tmp_path, "<%= p(['a.first', 'a.second']) %>", declared=declared)
    assert out == "second"
    out = render_one(tmp_path / "b", "<%= p(['a.first', 'a.third'], 'none') %>", declared=declared)
    assert out == "none"
    message = render_error(tmp_path / "c", "<%= p(['a.first', 'a.third']) %>", declared=declared)
    assert message.endswith('Can\'t find property \'["a.first", "a.third"]\'')


def test_nil_in_the_manifest_counts_as_unset(tmp_path: Path) -> None:
    manifest = {"proxy": {"port": None, "api_password": None}}
    assert render_one(tmp_path, "<%= p('proxy.port') %>", declared=PORTS, manifest=manifest) == "3306"
    template = "<% if_p('proxy.api_password') do %>set<% end.else do %>unset<% end %>"
    assert render_one(tmp_path / "b", template, declared=PORTS, manifest=manifest) == "unset"
    message = render_error(
        tmp_path / "c", "<%= p('proxy.api_password') %>", declared=PORTS, manifest=manifest
    )
    assert "Can't find property '[\"proxy.api_password\"]'" in message


def test_false_is_a_value_not_unset(tmp_path: Path) -> None:
    declared = {"flag": {"default": True}}
    assert render_one(tmp_path, "<%= p('flag') %>", declared=declared, manifest={"flag": False}) == "false"


def test_undeclared_properties_are_invisible_even_when_in_the_manifest(tmp_path: Path) -> None:
    manifest = {"proxy": {"port": 1, "secret": "x"}, "other": "y"}
    assert render_one(tmp_path, "<%= p('other', 'hidden') %>", declared=PORTS, manifest=manifest) == "hidden"
    message = render_error(tmp_path / "b", "<%= p('proxy.secret') %>", declared=PORTS, manifest=manifest)
    assert message.endswith("Can't find property '[\"proxy.secret\"]'")
    visible = render_one(tmp_path / "c", "<%= raw_properties.to_json %>", declared=PORTS, manifest=manifest)
    assert json.loads(visible) == {"proxy": {"port": 1, "api_password": None}}


def test_nested_hashes_and_flat_names(tmp_path: Path) -> None:
    declared = {"tls.ca": {"default": {"cert": "C"}}, "peers": {"default": []}, "port": {}}
    manifest = {"tls": {"ca": {"cert": "X", "key": "K"}}, "peers": [{"host": "a"}], "port": 1}
    template = (
        "<%= p('tls.ca')['key'] %> <%= p('tls.ca.cert') %> <%= p('peers')[0]['host'] %> <%= p('port') %>"
    )
    assert render_one(tmp_path, template, declared=declared, manifest=manifest) == "K X a 1"
    assert render_one(tmp_path / "b", "<%= p('tls.ca.cert') %>", declared=declared) == "C"


def test_a_scalar_where_a_hash_is_expected_is_reported(tmp_path: Path) -> None:
    message = render_error(tmp_path, "x", declared={"tls.ca": {}}, manifest={"tls": "oops"})
    assert message == (
        "Error binding properties for proxy/1 (job 'mini'): "
        "Property 'tls.ca' expects a hash, but received 'String'"
    )


def test_if_p_runs_the_block_only_when_all_are_set(tmp_path: Path) -> None:
    declared = {"a": {"default": 1}, "b": {"default": "two"}, "c": {}}
    template = (
        "<% if_p('a', 'b') do |a, b| %>both <%= a %> <%= b %><% end.else do %>not both<% end %>;"
        "<% if_p('a', 'c') do |a, c| %>both<% end.else do %>else<% end %>;"
        "<% if_p('c') do |c| %>c<% end %>;"
        "<% if_p('c') { |c| }.else_if_p('b') do |b| %>b=<%= b %><% end %>"
    )
    assert render_one(tmp_path, template, declared=declared) == "both 1 two;else;;b=two"


def test_each_template_gets_a_fresh_context(tmp_path: Path) -> None:
    job_dir = make_job(
        tmp_path,
        {"a.erb": "<% p('m')['x'] = 1 %><%= p('m') %>", "b.erb": "<%= p('m') %>"},
        properties={"m": {"default": {}}},
    )
    a, b = render_job(job_dir, instance=INSTANCE, properties={}, out_dir=tmp_path / "out")
    assert (a.read_text(), b.read_text()) == ('{"x"=>1}', "{}")


# --- spec ---------------------------------------------------------------------------------------


def test_spec_fields(tmp_path: Path) -> None:
    template = (
        "<%= [spec.deployment, spec.name, spec.index, spec.id, spec.address, spec.ip, spec.az,"
        " spec.bootstrap, spec.job.name].join(' ') %>"
    )
    assert render_one(tmp_path, template) == (
        "cf-mysql proxy 1 6a1f3c2e-0b1d-4c55-9a0e-5d7f0e1c2b3a 127.0.10.5 127.0.10.5 z2 true proxy"
    )


def test_spec_networks_is_an_openstruct(tmp_path: Path) -> None:
    template = (
        "<%= spec.networks.default.ip %> <%= spec.networks['default'].ip %> "
        "<%= spec.networks.to_h.keys.inspect %> <%= spec.networks.default.default.inspect %>"
    )
    assert render_one(tmp_path, template) == '127.0.10.5 127.0.10.5 [:default] ["dns", "gateway"]'
    other = InstanceSpec(
        deployment="d",
        name="g",
        index=0,
        id="i",
        address="a",
        ip="10.0.0.9",
        networks={"private": {"ip": "10.0.0.9", "netmask": "255.255.255.0"}},
    )
    assert (
        render_one(tmp_path / "b", "<%= spec.networks.private.netmask %>", instance=other) == "255.255.255.0"
    )


# --- links --------------------------------------------------------------------------------------

CONSUMES = [{"name": "mysql", "type": "mysql"}, {"name": "consul", "type": "consul", "optional": True}]


def test_link_instances_and_properties(tmp_path: Path) -> None:
    template = (
        "<% link('mysql').instances.each do |i| -%>\n"
        "<%= [i.name, i.index, i.id, i.address, i.az, i.bootstrap].join(' ') %>\n"
        "<% end -%>\n"
        "<%= link('mysql').p('port') %> <%= link('mysql').p('cluster.name') %> "
        "<%= link('mysql').p('nope', 'dflt') %> <%= link('mysql').p(['nope', 'port']) %>"
    )
    out = render_one(tmp_path, template, consumes=CONSUMES, links={"mysql": MYSQL})
    assert out == ("mysql 0 m-0 127.0.10.1 z1 true\nmysql 1 m-1 127.0.10.2 z2 false\n3306 galera dflt 3306")


def test_link_p_and_if_p_on_unset_properties(tmp_path: Path) -> None:
    template = "<% link('mysql').if_p('port', 'nope') { }.else do %>else<% end %>"
    assert render_one(tmp_path, template, consumes=CONSUMES, links={"mysql": MYSQL}) == "else"
    message = render_error(
        tmp_path / "b", "<%= link('mysql').p('nope') %>", consumes=CONSUMES, links={"mysql": MYSQL}
    )
    assert message.endswith("Can't find property '[\"nope\"]'")


def test_link_address_when_given(tmp_path: Path) -> None:
    link = Link(instances=MYSQL.instances, properties={}, address="mysql.service.internal")
    out = render_one(tmp_path, "<%= link('mysql').address %>", consumes=CONSUMES, links={"mysql": link})
    assert out == "mysql.service.internal"


def test_if_link_present_and_optional_absent(tmp_path: Path) -> None:
    template = (
        "<% if_link('mysql') do |m| %><%= m.instances.size %><% end.else do %>none<% end %> "
        "<% if_link('consul') do |c| %>consul<% end.else do %>no consul<% end %>"
    )
    assert render_one(tmp_path, template, consumes=CONSUMES, links={"mysql": MYSQL}) == "2 no consul"


def test_missing_required_link_raises_boshs_message(tmp_path: Path) -> None:
    message = render_error(tmp_path, "<%= link('mysql').instances %>", consumes=CONSUMES)
    assert (
        message
        == "Error filling in template 't.erb' (line 1) for proxy/1 (job 'mini'): Can't find link 'mysql'"
    )
    message = render_error(tmp_path / "b", "<% if_link('mysql') { } %>", consumes=CONSUMES)
    assert message.endswith("Can't find link 'mysql'")
    message = render_error(tmp_path / "c", "<%= link('consul') %>", consumes=CONSUMES)
    assert message.endswith("Can't find link 'consul'")


def test_undeclared_link_is_invisible_even_when_given(tmp_path: Path) -> None:
    message = render_error(tmp_path, "<%= link('mysql').instances.size %>", links={"mysql": MYSQL})
    assert message.endswith("Can't find link 'mysql'")


# --- errors -------------------------------------------------------------------------------------


def test_template_raising_on_purpose_keeps_its_message(tmp_path: Path) -> None:
    template = (
        "<%-\n"
        "  port = p('proxy.port')\n"
        '  raise "proxy.port must be between 1 and 65535, got #{port}" if port < 1\n'
        "-%>\n"
    )
    message = render_error(tmp_path, template, declared=PORTS, manifest={"proxy": {"port": 0}})
    assert message == (
        "Error filling in template 't.erb' (line 3) for proxy/1 (job 'mini'): "
        "proxy.port must be between 1 and 65535, got 0"
    )


def test_ruby_syntax_error_names_template_and_line(tmp_path: Path) -> None:
    message = render_error(tmp_path, "a\n<% x = [1, 2 %>\nb\n")
    assert message.startswith("Error filling in template 't.erb' (line ")
    assert "for proxy/1 (job 'mini'): syntax error" in message


def test_every_failing_template_is_reported_and_nothing_is_written(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, {"a.erb": "<% raise 'first' %>", "b.erb": "fine", "c.erb": "<%= nope %>"})
    with pytest.raises(RenderError) as info:
        render_job(job_dir, instance=INSTANCE, properties={}, out_dir=tmp_path / "out")
    lines = str(info.value).splitlines()
    assert lines[0] == "Error filling in template 'a.erb' (line 1) for proxy/1 (job 'mini'): first"
    assert lines[1].startswith(
        "Error filling in template 'c.erb' (line 1) for proxy/1 (job 'mini'): undefined"
    )
    assert not (tmp_path / "out").exists()


def test_missing_template_file_is_named(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, {"a.erb": "x"}, destinations={"a.erb": "a", "gone.erb": "config/gone"})
    with pytest.raises(
        RenderError, match=r"template 'gone.erb' listed in .*spec does not exist: .*gone\.erb"
    ):
        render_job(job_dir, instance=INSTANCE, properties={}, out_dir=tmp_path / "out")


def test_missing_spec_is_named(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"job spec .*nojob/spec does not exist"):
        render_job(tmp_path / "nojob", instance=INSTANCE, properties={}, out_dir=tmp_path / "out")


def test_missing_ruby_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job_dir = make_job(tmp_path, {"a.erb": "x"})
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(RenderError, match="install Debian's `ruby` package"):
        render_job(job_dir, instance=INSTANCE, properties={}, out_dir=tmp_path / "out")


# --- ERB mechanics and output -------------------------------------------------------------------


def test_trim_mode_dash(tmp_path: Path) -> None:
    template = "a\n<%- if true -%>\n  b\n<%- end -%>\n<% if true %>\nc\n<% end %>\n"
    assert render_one(tmp_path, template) == "a\n  b\n\nc\n\n"


def test_json_and_yaml_are_available(tmp_path: Path) -> None:
    declared = {"cfg": {"default": {"port": 1, "hosts": ["a"]}}}
    out = render_one(tmp_path, "<%= JSON.pretty_generate(p('cfg')) %>", declared=declared)
    assert json.loads(out) == {"port": 1, "hosts": ["a"]}
    out = render_one(tmp_path / "b", "<%= p('cfg').to_yaml %>", declared=declared)
    assert yaml.safe_load(out) == {"port": 1, "hosts": ["a"]}


def test_utf8_and_template_stdout_do_not_break_the_result(tmp_path: Path) -> None:
    out = render_one(tmp_path, "<% puts 'noise'; STDOUT.write('more') %>café <%= 'né' %>")
    assert out == "café né"


def test_all_templates_render_in_one_ruby_process(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, {"a.erb": "<%= Process.pid %>", "b.erb": "<%= Process.pid %>"})
    a, b = render_job(job_dir, instance=INSTANCE, properties={}, out_dir=tmp_path / "out")
    assert a.read_text() == b.read_text()


def test_demo_proxy_fixture_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "jobs" / "demo-proxy"
    paths = render_job(
        FIXTURES / "demo-proxy",
        instance=INSTANCE,
        properties={"proxy": {"api_password": "secret", "tags": {"team": "data"}}},
        links={"mysql": MYSQL},
        out_dir=out,
    )
    assert [p.relative_to(out).as_posix() for p in paths] == [
        "config/bpm.yml",
        "config/proxy.json",
        "bin/ctl",
        "monit",
    ]
    config = json.loads((out / "config/proxy.json").read_text())
    assert config == {
        "port": 3306,
        "api": {"username": "admin", "password": "secret"},
        "healthcheck_timeout_millis": 5000,
        "tags": {"team": "data"},
        "backends": [
            {"host": "127.0.10.1", "port": 3306, "name": "mysql/0"},
            {"host": "127.0.10.2", "port": 3306, "name": "mysql/1"},
        ],
        "bootstrap": True,
        "listen": "127.0.10.5",
        "consul": None,
    }
    bpm = yaml.safe_load((out / "config/bpm.yml").read_text())
    assert bpm["processes"][0]["args"] == ["--index", "1"]
    assert stat.S_IMODE((out / "bin/ctl").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "config/proxy.json").stat().st_mode) == 0o644
    assert (out / "bin/ctl").read_text().startswith("#!/bin/bash\nset -euo pipefail\nexec ")
    assert "check process demo-proxy" in (out / "monit").read_text()


def test_demo_proxy_validation_and_optional_link(tmp_path: Path) -> None:
    consul = Link(
        instances=(LinkInstance(name="consul", index=0, id="c", address="127.0.10.9"),), properties={}
    )
    paths = render_job(
        FIXTURES / "demo-proxy",
        instance=INSTANCE,
        properties={"proxy": {"api_password": "s"}},
        links={"mysql": MYSQL, "consul": consul},
        out_dir=tmp_path / "a",
    )
    assert json.loads(paths[1].read_text())["consul"] == ["127.0.10.9"]
    with pytest.raises(RenderError) as info:
        render_job(
            FIXTURES / "demo-proxy",
            instance=INSTANCE,
            properties={"proxy": {"port": 0, "api_password": "s"}},
            links={"mysql": MYSQL},
            out_dir=tmp_path / "b",
        )
    assert str(info.value) == (
        "Error filling in template 'proxy.json.erb' (line 3) for proxy/1 (job 'demo-proxy'): "
        "proxy.port must be between 1 and 65535, got 0"
    )


# --- spec loading -------------------------------------------------------------------------------


def test_load_job_spec(tmp_path: Path) -> None:
    job = load_job_spec(FIXTURES / "demo-proxy")
    assert isinstance(job, JobSpec)
    assert job.name == "demo-proxy"
    assert job.templates["ctl.erb"] == "bin/ctl"
    assert job.packages == ("python3",)
    assert job.properties["proxy.port"] == {"description": "TCP port clients connect to", "default": 3306}
    assert job.properties["proxy.api_password"]["default"] is None
    assert job.provides == ({"name": "proxy", "type": "proxy", "properties": ["proxy.port"]},)
    assert job.consumes == (
        {"name": "mysql", "type": "mysql", "optional": False},
        {"name": "consul", "type": "consul", "optional": True},
    )
    assert job.consumed("consul") is not None and job.consumed("nope") is None


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("- a list\n", "expected a YAML map"),
        ("name: x\ntemplates: [a]\n", "'templates' must map"),
        ("name: x\ntemplates: {a.erb: ../escape}\n", "relative path without '..'"),
        ("templates: {}\n", "'name' must be a non-empty string"),
        ("name: x\nconsumes: [{type: t}]\n", "needs a 'name'"),
        ("name: x\n: [\n", "not valid YAML"),
    ],
)
def test_bad_specs_are_refused_naming_the_file(tmp_path: Path, spec: str, match: str) -> None:
    (tmp_path / "spec").write_text(spec)
    with pytest.raises(RenderError, match=match) as info:
        load_job_spec(tmp_path)
    assert str(tmp_path / "spec") in str(info.value)
