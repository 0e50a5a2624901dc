"""Links resolve as the BOSH director resolves them (its rules and its words), from this
release's job specs and the other releases' table, for the lab, the lint and ``--target bosh``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cf_mysql_consul_tools.bosh.director import instance_spec, job_links
from cf_mysql_consul_tools.bosh.links import LinkError
from cf_mysql_consul_tools.bosh.manifest import Deployment, parse
from cf_mysql_consul_tools.bosh.releases import Catalog

CATALOG = Catalog()
PROXY_PROPS = {"api_username": "u", "api_password": "p"}


def manifest() -> dict[str, Any]:
    return {
        "name": "links",
        "releases": [{"name": n, "version": "latest"} for n in ("cf-mysql-consul", "cf-mysql", "pxc")],
        "instance_groups": [
            {"name": "mysql", "instances": 2, "networks": [{"name": "n1", "static_ips": ["10.0.0.1", "10.0.0.2"]}],
             "jobs": [{"name": "mysql", "release": "cf-mysql", "properties": {"cf_mysql": {"mysql": {"port": 3307}}}},
                      {"name": "galera-drain", "release": "cf-mysql-consul", "properties": {}}]},
            {"name": "proxy", "instances": 2, "networks": [{"name": "n1", "static_ips": ["10.0.0.4", "10.0.0.5"]}],
             "jobs": [{"name": "proxy", "release": "cf-mysql-consul", "properties": dict(PROXY_PROPS)},
                      {"name": "consul-lock", "release": "cf-mysql-consul", "properties": {}}]},
        ],
    }


def deployment(edit: Any = None) -> Deployment:
    raw = manifest()
    if edit:
        edit(raw)
    return parse(raw, Path("links.yml"))


def links_of(dep: Deployment, group: str, job: str) -> dict[str, Any]:
    return job_links(dep, group, next(j for j in dep.instance_group(group).jobs if j.name == job), CATALOG)


def jobs(raw: dict[str, Any], group: str) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for g in raw["instance_groups"] if g["name"] == group for j in g["jobs"]}


def test_implicit_links_carry_the_real_releases_properties_and_ips() -> None:
    dep = deployment()
    mysql = links_of(dep, "proxy", "proxy")["mysql"]
    assert [(i.name, i.index, i.address) for i in mysql.instances] == [
        ("mysql", 0, "10.0.0.1"), ("mysql", 1, "10.0.0.2")]
    assert mysql.properties["cf_mysql"]["mysql"]["port"] == 3307 and "port" not in mysql.properties
    assert mysql.properties["cf_mysql"]["mysql"]["galera_healthcheck"]["endpoint_username"] == "galera-healthcheck"
    assert mysql.address == "q-s0.mysql.n1.links.bosh"
    proxy = links_of(dep, "proxy", "consul-lock")["proxy"]
    assert proxy.properties == {"port": 3306, "api_port": 8080, "health_port": 1936, **PROXY_PROPS}


def test_pxc_releases_mysql_link_has_a_top_level_port() -> None:
    def use_pxc(raw: dict[str, Any]) -> None:
        raw["instance_groups"][0]["jobs"][0] = {"name": "pxc-mysql", "release": "pxc", "properties": {"port": 3308}}

    assert links_of(deployment(use_pxc), "proxy", "proxy")["mysql"].properties["port"] == 3308


def test_nil_blocks_an_optional_link_and_fails_a_required_one() -> None:
    dep = deployment(lambda raw: jobs(raw, "mysql")["galera-drain"].update(consumes={"proxy": "nil"}))
    assert set(links_of(dep, "mysql", "galera-drain")) == {"mysql"}
    dep = deployment(lambda raw: jobs(raw, "proxy")["consul-lock"].update(consumes={"proxy": "nil"}))
    with pytest.raises(LinkError) as err:
        links_of(dep, "proxy", "consul-lock")
    assert ("Failed to resolve link 'proxy' with type 'proxy' from job 'consul-lock' in instance group 'proxy'. "
            "Details below:\n    - No link providers found") in str(err.value)


def test_a_null_consumes_entry_is_refused_as_the_director_refuses_it() -> None:
    dep = deployment(lambda raw: jobs(raw, "mysql")["galera-drain"].update(consumes={"proxy": None}))
    with pytest.raises(LinkError, match="Consumer 'proxy' in job 'galera-drain' in instance group 'mysql' specified "
                                        "in the manifest should only be a hash or string 'nil'"):
        links_of(dep, "mysql", "galera-drain")


def second_proxy_group(raw: dict[str, Any]) -> None:
    other = copy.deepcopy(raw["instance_groups"][1])
    other.update(name="proxy-b", networks=[{"name": "n1", "static_ips": ["10.0.0.6"]}], instances=1)
    other["jobs"] = [other["jobs"][0]]
    raw["instance_groups"].append(other)


def test_two_providers_are_an_error_even_when_one_is_colocated() -> None:
    dep = deployment(second_proxy_group)
    with pytest.raises(LinkError) as err:
        links_of(dep, "proxy", "consul-lock")
    message = str(err.value)
    assert "Failed to resolve links from deployment 'links'" in message
    assert "Link provider 'proxy' from job 'proxy' in instance group 'proxy' in deployment 'links'" in message
    assert "Link provider 'proxy' from job 'proxy' in instance group 'proxy-b' in deployment 'links'" in message


def test_from_and_an_alias_pick_the_provider() -> None:
    def pick(raw: dict[str, Any]) -> None:
        second_proxy_group(raw)
        jobs(raw, "proxy-b")["proxy"]["provides"] = {"proxy": {"as": "proxy-b"}}
        jobs(raw, "proxy")["consul-lock"]["consumes"] = {"proxy": {"from": "proxy-b"}}

    link = links_of(deployment(pick), "proxy", "consul-lock")["proxy"]
    assert [i.address for i in link.instances] == ["10.0.0.6"]


def test_provides_nil_hides_a_provider() -> None:
    def hide(raw: dict[str, Any]) -> None:
        second_proxy_group(raw)
        jobs(raw, "proxy-b")["proxy"]["provides"] = {"proxy": "nil"}

    assert [i.address for i in links_of(deployment(hide), "proxy", "consul-lock")["proxy"].instances] == [
        "10.0.0.4", "10.0.0.5"]


def test_a_property_set_to_null_in_the_manifest_is_null_in_the_link() -> None:
    dep = deployment(lambda raw: jobs(raw, "proxy")["proxy"]["properties"].update(api_port=None))
    assert links_of(dep, "proxy", "consul-lock")["proxy"].properties["api_port"] is None


def test_dns_addresses_unless_the_link_asks_for_ips() -> None:
    dep = deployment(lambda raw: raw.update(features={"use_dns_addresses": True}))
    mysql0 = dep.instance("mysql/0")
    assert links_of(dep, "proxy", "proxy")["mysql"].instances[0].address == f"{mysql0.id}.mysql.n1.links.bosh"
    assert instance_spec(dep, mysql0).address == f"{mysql0.id}.mysql.n1.links.bosh"
    assert instance_spec(dep, mysql0).ip == "10.0.0.1"

    def ips(raw: dict[str, Any]) -> None:
        raw.update(features={"use_dns_addresses": True})
        jobs(raw, "proxy")["proxy"]["consumes"] = {"mysql": {"ip_addresses": True}}

    assert links_of(deployment(ips), "proxy", "proxy")["mysql"].instances[0].address == "10.0.0.1"


def test_a_manual_link_is_taken_as_written() -> None:
    manual = {"instances": [{"address": "192.0.2.7"}], "properties": {"port": 3310}}
    dep = deployment(lambda raw: jobs(raw, "proxy")["proxy"].update(consumes={"mysql": manual}))
    link = links_of(dep, "proxy", "proxy")["mysql"]
    assert [i.address for i in link.instances] == ["192.0.2.7"] and link.properties == {"port": 3310}
