"""Manifest parsing: the lab's view of a BOSH v2 manifest and its error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cf_mysql_consul_tools.lab.manifest import ManifestError, load_manifest, parse_manifest


def base() -> dict[str, Any]:
    return {
        "name": "d",
        "update": {"canaries": 2, "max_in_flight": 3, "canary_watch_time": "500-9000", "update_watch_time": 7000},
        "instance_groups": [
            {"name": "a", "instances": 2, "networks": [{"name": "n", "static_ips": ["127.0.9.1", "127.0.9.2"]}],
             "properties": {"shared": 1},
             "jobs": [{"name": "j", "release": "r", "properties": {"own": 2}}]},
        ],
    }


def test_default_manifest_lists_the_lab_instances() -> None:
    dep = load_manifest()
    assert [i.name for i in dep.instances][:6] == ["consul/0", "consul/1", "consul/2", "mysql/0", "mysql/1",
                                                   "arbitrator/0"]
    assert dep.instance("mysql/1").address == "127.0.10.2"
    assert dep.instance("arbitrator").name == "arbitrator/0"  # a group of one answers to its name


def test_instances_get_addresses_ids_and_merged_properties() -> None:
    dep = parse_manifest(base(), Path("m.yml"))
    a1 = dep.instance("a/1")
    assert a1.address == "127.0.9.2"
    assert a1.id != dep.instance("a/0").id
    job = a1.job("j")
    assert job is not None and job.properties == {"shared": 1, "own": 2}
    assert dep.update.canaries == 2 and dep.update.canary_watch_time == (500, 9000)
    assert dep.update.update_watch_time == (7000, 7000)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["instance_groups"][0].update(instances=3), "3 instances but 2 static_ips"),
        (lambda m: m["instance_groups"][0]["networks"][0].update(static_ips=["10.0.0.1", "10.0.0.2"]),
         "only uses loopback addresses"),
        (lambda m: m["instance_groups"][0]["networks"][0].update(static_ips=["127.0.9.1", "127.0.9.1"]),
         "already used by a/0"),
        (lambda m: m["instance_groups"][0].pop("jobs"), "instance_groups.a: 'jobs' is required"),
        (lambda m: m.pop("name"), "'name' is required"),
        (lambda m: m["update"].update(canary_watch_time="soon"), "update.canary_watch_time"),
    ],
)
def test_bad_manifests_name_the_field(edit: Any, message: str) -> None:
    raw = base()
    edit(raw)
    with pytest.raises(ManifestError, match=message):
        parse_manifest(raw, Path("m.yml"))


def test_unknown_instance_and_group_are_named() -> None:
    dep = parse_manifest(base(), Path("m.yml"))
    with pytest.raises(ManifestError, match=r"unknown instance 'b/0'.*known: a/0, a/1"):
        dep.instance("b/0")
    with pytest.raises(ManifestError, match="unknown instance group 'b'"):
        dep.group("b")


def test_address_prefix_moves_every_instance_keeping_the_last_octet() -> None:
    dep = parse_manifest(base(), Path("m.yml"), address_prefix="127.0.33")
    assert [i.address for i in dep.instances] == ["127.0.33.1", "127.0.33.2"]


def test_default_manifest_healthchecks_agree_with_the_proxies_on_donors() -> None:
    """A proxy that accepts a Donor only gets one if galera-healthcheck reports it healthy too."""
    dep = load_manifest()
    proxies = {bool(i.job("proxy").properties.get("available_when_donor")) for i in dep.with_job("proxy")}
    nodes = {bool(i.job("mysql").properties["cf_mysql"]["mysql"].get("available_when_donor"))
             for i in dep.with_job("mysql")}
    assert proxies == nodes == {True}
