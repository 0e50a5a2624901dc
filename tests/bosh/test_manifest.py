"""The parsed deployment (the model's view of a BOSH v2 manifest), ``bosh int`` as a whole, and
the lab's loading on top of it; every error names the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cf_mysql_consul_tools.bosh.manifest import ManifestError, deploy_problems, load, parse
from cf_mysql_consul_tools.bosh.ops import parse_ops
from cf_mysql_consul_tools.bosh.variables import VariablesError
from cf_mysql_consul_tools.lab.manifest import DEFAULT_MANIFEST, load_lab_deployment


def base() -> dict[str, Any]:
    return {
        "name": "d",
        "releases": [{"name": "r", "version": "latest"}],
        "properties": {"top": 0, "shared": 0},
        "update": {"canaries": 2, "max_in_flight": 3, "canary_watch_time": "500-9000", "update_watch_time": 7000},
        "instance_groups": [
            {"name": "a", "instances": 2, "networks": [{"name": "n", "static_ips": ["127.0.9.1", "127.0.9.2"]}],
             "properties": {"shared": 1}, "update": {"max_in_flight": 1},
             "jobs": [{"name": "j", "release": "r", "properties": {"own": 2}}, {"name": "k", "release": "r"}]},
            {"name": "e", "instances": 1, "lifecycle": "errand", "networks": [{"name": "n"}],
             "jobs": [{"name": "j", "release": "r"}]},
        ],
    }


def test_instances_get_addresses_ids_and_the_directors_properties() -> None:
    dep = parse(base(), Path("m.yml"))
    a1 = dep.instance("a/1")
    assert a1.address == "127.0.9.2" and a1.network == "n"
    assert a1.id != dep.instance("a/0").id
    assert a1.job("j").properties == {"own": 2}  # a job's own properties win whole
    assert a1.job("k").properties == {"top": 0, "shared": 1}
    assert dep.update.canaries == 2 and dep.update.canary_watch_time == (500, 9000)
    assert dep.update.update_watch_time == (7000, 7000)
    assert dep.instance_group("a").update.max_in_flight == 1 and dep.instance_group("a").update.canaries == 2
    assert dep.instance("e/0").address == ""  # a dynamic network: the director assigns it


def test_errands_and_dynamic_addresses() -> None:
    dep = parse(base(), Path("m.yml"))
    assert dep.without_errands().groups == ("a",)
    assert dep.with_dynamic_addresses().instance("e/0").address == "10.244.101.2"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["instance_groups"][0].update(instances=3), "3 instances but 2 static_ips"),
        (lambda m: m["instance_groups"][0]["networks"][0].update(static_ips=["127.0.9.1", "127.0.9.1"]),
         "already used by a/0"),
        (lambda m: m["instance_groups"][0].pop("jobs"), "instance_groups.a: 'jobs' is required"),
        (lambda m: m["instance_groups"][0].pop("networks"), "instance_groups.a: 'networks' is required"),
        (lambda m: m["instance_groups"][0]["jobs"][0].update(release="other"), "release 'other' is not under"),
        (lambda m: m["instance_groups"][0]["jobs"].append({"name": "j", "release": "r"}), "listed twice"),
        (lambda m: m["instance_groups"].append(m["instance_groups"][0]), "defined twice"),
        (lambda m: m.pop("name"), "'name' is required"),
        (lambda m: m["update"].update(canary_watch_time="soon"), "update.canary_watch_time"),
    ],
)
def test_bad_manifests_name_the_field(edit: Any, message: str) -> None:
    raw = base()
    edit(raw)
    with pytest.raises(ManifestError, match=message):
        parse(raw, Path("m.yml"))


def test_unknown_instance_and_group_are_named() -> None:
    dep = parse(base(), Path("m.yml"))
    with pytest.raises(ManifestError, match=r"unknown instance 'b/0'.*known: a/0, a/1, e/0"):
        dep.instance("b/0")
    with pytest.raises(ManifestError, match="unknown instance group 'b'"):
        dep.group("b")


def test_load_is_bosh_int_ops_then_variables(tmp_path: Path) -> None:
    raw = base()
    raw["instance_groups"][0]["jobs"][0]["properties"]["pw"] = "((pw))"
    manifest = tmp_path / "m.yml"
    manifest.write_text(yaml.safe_dump(raw))
    ops = parse_ops([{"type": "replace", "path": "/instance_groups/name=a/jobs/name=j/properties/own", "value": 3}],
                    source="inline")
    dep = load(manifest, ops, given={"pw": "s"})
    assert dep.instance("a/0").job("j").properties == {"own": 3, "pw": "s"}
    with pytest.raises(VariablesError, match="Expected to find variables: pw"):
        load(manifest)


def test_the_repository_manifest_needs_only_what_bosh_deploy_needs() -> None:
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifests" / "cf-mysql-consul.yml").read_text())
    assert deploy_problems(doc, release="cf-mysql-consul") == []
    doc["instance_groups"][0].pop("vm_type")
    assert deploy_problems(doc, release="cf-mysql-consul") == ["instance group 'consul': 'vm_type' is required"]


# ---- the lab's loading -------------------------------------------------------------------------

def test_default_manifest_lists_the_lab_instances() -> None:
    dep = load_lab_deployment()
    assert [i.name for i in dep.instances][:6] == ["consul/0", "consul/1", "consul/2", "mysql/0", "mysql/1",
                                                   "arbitrator/0"]
    assert dep.instance("mysql/1").address == "127.0.10.2"
    assert dep.instance("arbitrator").name == "arbitrator/0"  # a group of one answers to its name


def test_address_prefix_moves_every_instance_keeping_the_last_octet() -> None:
    dep = load_lab_deployment(address_prefix="127.0.33")
    assert dep.instance("mysql/1").address == "127.0.33.2"


@pytest.mark.parametrize(("ips", "message"), [
    (None, "the lab needs a static IP for arbitrator/0"),
    (["10.0.0.1"], "only uses loopback addresses"),
    (["nope"], "'nope' is not an IP address"),
])
def test_the_lab_needs_a_loopback_address_per_instance(tmp_path: Path, ips: list[str] | None, message: str) -> None:
    raw = yaml.safe_load(DEFAULT_MANIFEST.read_text())
    arbitrator = next(g for g in raw["instance_groups"] if g["name"] == "arbitrator")
    arbitrator["networks"] = [{"name": "lab", **({"static_ips": ips} if ips else {})}]
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ManifestError, match=message):
        load_lab_deployment(path)


def test_default_manifest_healthchecks_agree_with_the_proxies_on_donors() -> None:
    """A proxy that accepts a Donor only gets one if galera-healthcheck reports it healthy too."""
    dep = load_lab_deployment()
    proxies = {bool(i.job("proxy").properties.get("available_when_donor")) for i in dep.with_job("proxy")}
    nodes = {bool(i.job("mysql").properties["cf_mysql"]["mysql"].get("available_when_donor"))
             for i in dep.with_job("mysql")}
    assert proxies == nodes == {True}


def deployable() -> dict[str, Any]:
    doc = base()
    doc["stemcells"] = [{"alias": "default", "os": "ubuntu-jammy", "version": "latest"}]
    for group in doc["instance_groups"]:
        group.update(azs=["z1"], vm_type="default", stemcell="default")
    return doc


@pytest.mark.parametrize(("edit", "says"), [
    (lambda d: d["instance_groups"][0].update(instances="two"), "'instances' must be a whole number, got 'two'"),
    (lambda d: d["instance_groups"][0].update(instances=True), "'instances' must be a whole number"),
    (lambda d: d["instance_groups"][0].update(networks="n"), "'networks' must be a list"),
    (lambda d: d["instance_groups"][0]["networks"][0].update(static_ips="127.0.9.1"), "'static_ips' of network"),
    (lambda d: d["instance_groups"][0].update(jobs={"j": {}}), "'jobs' must be a list"),
    (lambda d: d["instance_groups"][0]["jobs"][0].update(properties=[1]), "properties of job 'j' must be a map"),
    (lambda d: d["instance_groups"][0].pop("jobs"), "instance group 'a': 'jobs' is required"),
    (lambda d: d["instance_groups"].append("x"), "instance_groups: every entry is a map"),
    (lambda d: d["instance_groups"][0].update(name=["a"]), "every instance group needs a name (a string)"),
    (lambda d: d.update(instance_groups={"a": {}}), "'instance_groups' must be a list"),
    (lambda d: d.update(releases="r"), "'releases' must be a list"),
    (lambda d: d.update(stemcells=[1]), "stemcells: every entry is a map"),
    (lambda d: d.update(update="fast"), "'update' must be a map"),
])
def test_deploy_problems_name_a_field_of_any_wrong_type_and_never_raise(edit: Any, says: str) -> None:
    assert deploy_problems(deployable(), release="r") == []
    doc = deployable()
    edit(doc)
    problems = deploy_problems(doc, release="r")
    assert any(says in p for p in problems), problems
