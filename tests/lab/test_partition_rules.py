"""The partition rules as iptables-restore text, the lab's tag and naming of instances (no root, no lab)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cf_mysql_consul_tools.bosh.manifest import ManifestError
from cf_mysql_consul_tools.lab.lab import Lab, LabError
from cf_mysql_consul_tools.lab.manifest import load_lab_deployment
from cf_mysql_consul_tools.lab.partitions import Cut, Member, PartitionError, cgroup2_root, lab_tag, ruleset

A = Member(1, "127.0.9.1", "cf-mysql-consul-lab-00ab/a-0")
B = Member(2, "127.0.9.2", "cf-mysql-consul-lab-00ab/b-0")
C = Member(3, "127.0.9.3", "cf-mysql-consul-lab-00ab/c-0")


def rules(text: str, table: str) -> list[str]:
    block = text.split(f"*{table}\n", 1)[1].split("COMMIT", 1)[0]
    return [line for line in block.splitlines() if line.startswith("-A")]


def test_marks_carry_the_lab_tag_and_the_opening_or_answering_instance_from_its_cgroup() -> None:
    marks = rules(ruleset("cfmc-00ab", 0xAB, [([A], [B])]), "mangle")
    assert marks == [
        '-A cfmc-00ab-mark -m cgroup --path "cf-mysql-consul-lab-00ab/a-0" -m conntrack --ctdir ORIGINAL '
        "-j CONNMARK --set-xmark 0xab0001/0xffff00ff",
        '-A cfmc-00ab-mark -m cgroup --path "cf-mysql-consul-lab-00ab/a-0" -m conntrack --ctdir REPLY '
        "-j CONNMARK --set-xmark 0xab0100/0xffffff00",
        '-A cfmc-00ab-mark -m cgroup --path "cf-mysql-consul-lab-00ab/b-0" -m conntrack --ctdir ORIGINAL '
        "-j CONNMARK --set-xmark 0xab0002/0xffff00ff",
        '-A cfmc-00ab-mark -m cgroup --path "cf-mysql-consul-lab-00ab/b-0" -m conntrack --ctdir REPLY '
        "-j CONNMARK --set-xmark 0xab0200/0xffffff00",
    ]


def test_drops_both_directions_by_address_and_by_answerer_and_nothing_inside_a_side() -> None:
    drops = rules(ruleset("cfmc-00ab", 0xAB, [([A, C], [B])]), "filter")
    assert all(r.endswith("-j DROP") for r in drops)
    assert len(drops) == 2 * 2 * 3  # {A, C} x {B}, each way, three rules
    assert "-A cfmc-00ab-cut -m connmark --mark 0xab0001/0xffff00ff -d 127.0.9.2/32 -j DROP" in drops
    assert "-A cfmc-00ab-cut -m connmark --mark 0xab0002/0xffff00ff -s 127.0.9.1/32 -j DROP" in drops
    assert "-A cfmc-00ab-cut -m connmark --mark 0xab0201/0xffffffff -j DROP" in drops  # A opened, B answered
    assert "-A cfmc-00ab-cut -m connmark --mark 0xab0102/0xffffffff -j DROP" in drops  # B opened, A answered
    # A and C are on the same side: nothing between them.
    assert not [r for r in drops if ("0xab0001/" in r and "127.0.9.3" in r) or "0xab0301/" in r or "0xab0103/" in r]


def test_no_cut_leaves_both_chains_declared_and_empty() -> None:
    text = ruleset("cfmc-00ab", 0xAB, [])
    assert ":cfmc-00ab-mark - [0:0]" in text and ":cfmc-00ab-cut - [0:0]" in text
    assert not rules(text, "mangle") and not rules(text, "filter")


def test_the_tag_depends_on_the_lab_root_only(tmp_path: Path) -> None:
    assert lab_tag(tmp_path / "a") == lab_tag(tmp_path / "a")
    assert 0 <= lab_tag(tmp_path / "a") <= 0xFFFF
    assert lab_tag(tmp_path / "a") != lab_tag(tmp_path / "b")


def test_cgroup2_root_is_found_in_the_mount_table() -> None:
    mounts = ("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n"
              "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n")
    assert cgroup2_root(mounts) == Path("/sys/fs/cgroup/unified")
    assert cgroup2_root("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n") is None


def test_cut_describes_its_sides() -> None:
    assert Cut(("proxy/0",), ("consul/0", "consul/1")).describe() == "proxy/0 | consul/0, consul/1"


def test_instances_are_named_by_instance_group_or_both(tmp_path: Path) -> None:
    lab = Lab(load_lab_deployment(), root=tmp_path)
    assert [i.name for i in lab.select("consul")] == ["consul/0", "consul/1", "consul/2"]
    assert [i.name for i in lab.select("mysql/1, arbitrator")] == ["mysql/1", "arbitrator/0"]
    assert [i.name for i in lab.select(["proxy", "proxy/0"])] == ["proxy/0", "proxy/1"]
    with pytest.raises(ManifestError, match="unknown instance 'nope'"):
        lab.select("nope")


def test_a_partition_needs_two_disjoint_sides(tmp_path: Path) -> None:
    lab = Lab(load_lab_deployment(), root=tmp_path)
    with pytest.raises(LabError, match="each side"):
        lab.partition("", "consul")
    with pytest.raises(PartitionError, match="both sides"):
        lab.network.partition(lab.select("proxy/0"), lab.select("proxy"))
