"""Network partitions between the lab's instances: a cgroup per instance, and iptables rules of one lab's own.

On loopback every instance sends from 127.0.0.1 (proxy to MySQL, proxy to its Consul agent, and
the host's clients too), so addresses alone cannot tell instances apart. Each instance's processes
and lifecycle hooks therefore run in a cgroup v2 of their own (``cf-mysql-consul-lab-TAG/SLUG``,
TAG from the lab's state directory), and while a partition is in force:

- the mangle table's OUTPUT marks each connection (its conntrack mark) with the lab's TAG, the
  instance that opened it (the cgroup of the socket sending in the connection's original
  direction) and the instance that answered it (the one sending in the reply direction);
- the filter table's INPUT drops, on arrival, every packet of a connection that an instance on
  one side opened when its other end (the address it went to or came from, or the instance that
  answered) is on the other side.

Packets are dropped silently on arrival, as a real network loses them: a sender whose packet is
rejected on send gets EPERM and behaves differently (Consul's memberlist then skips the probe
and never declares the node failed). Nothing on the host is in a lab cgroup, so clients and
tests keep reaching every instance. The chains (``cfmc-TAG-mark``, ``cfmc-TAG-cut``) and the
comments on the jumps to them name this lab only; another lab on the machine is never touched.
What is in force is also written to ``run/partitions.json`` under the lab's state directory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cf_mysql_consul_tools.bosh.manifest import Instance

CGROUP_PREFIX = "cf-mysql-consul-lab-"
MAX_INSTANCES = 255  # an instance's number takes 8 bits of the connection mark


class PartitionError(RuntimeError):
    """A partition cannot be put in force or lifted; the message names the cause and the fix."""


@dataclass(frozen=True, slots=True)
class Cut:
    """Traffic between every instance of ``a`` and every instance of ``b`` is lost, both ways."""

    a: tuple[str, ...]
    b: tuple[str, ...]

    def describe(self) -> str:
        """``proxy/0 | consul/0, consul/1``."""
        return f"{', '.join(self.a)} | {', '.join(self.b)}"

    def to_json(self) -> dict[str, list[str]]:
        """For the record file and reports."""
        return {"a": list(self.a), "b": list(self.b)}


@dataclass(frozen=True, slots=True)
class Member:
    """An instance as the rules see it: its number in the mark, its address, its cgroup path."""

    number: int
    address: str
    cgroup: str  # relative to the cgroup v2 root, as ``-m cgroup --path`` wants it


def lab_tag(root: Path) -> int:
    """A 16-bit tag for the lab whose state lives in ``root``: names its chains, cgroups and marks."""
    return int(hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:4], 16)


def cgroup2_root(mounts: str | None = None) -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (from /proc/self/mounts), or None."""
    text = mounts if mounts is not None else Path("/proc/self/mounts").read_text()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def ruleset(chain: str, tag: int, cuts: Sequence[tuple[Sequence[Member], Sequence[Member]]]) -> str:
    """``iptables-restore --noflush`` input that (re)fills this lab's two chains for ``cuts``.

    Mark layout: bits 16-31 the lab's tag, 8-15 the answering instance, 0-7 the opening one.
    """
    base = tag << 16
    members = {m.number: m for a, b in cuts for m in (*a, *b)}
    lines = ["*mangle", f":{chain}-mark - [0:0]"]
    for m in sorted(members.values(), key=lambda m: m.number):
        where = f'-A {chain}-mark -m cgroup --path "{m.cgroup}" -m conntrack --ctdir'
        lines.append(f"{where} ORIGINAL -j CONNMARK --set-xmark {base | m.number:#x}/0xffff00ff")
        lines.append(f"{where} REPLY -j CONNMARK --set-xmark {base | m.number << 8:#x}/0xffffff00")
    lines += ["COMMIT", "*filter", f":{chain}-cut - [0:0]"]
    for a, b in cuts:
        for opener, other in [*((x, y) for x in a for y in b), *((y, x) for x in a for y in b)]:
            opened = f"-A {chain}-cut -m connmark --mark {base | opener.number:#x}/0xffff00ff"
            lines.append(f"{opened} -d {other.address}/32 -j DROP")
            lines.append(f"{opened} -s {other.address}/32 -j DROP")
            lines.append(f"-A {chain}-cut -m connmark --mark "
                         f"{base | other.number << 8 | opener.number:#x}/0xffffffff -j DROP")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30, check=False)


class LabNetwork:
    """The cgroups and partitions of one lab (the one whose state lives in ``root``)."""

    def __init__(self, root: Path, instances: Sequence[Instance]) -> None:
        if len(instances) > MAX_INSTANCES:
            raise PartitionError(f"the lab can partition at most {MAX_INSTANCES} instances, not {len(instances)}")
        self.root = root
        self.instances = tuple(instances)
        self.tag = lab_tag(root)
        self.chain = f"cfmc-{self.tag:04x}"
        self.record = root / "run" / "partitions.json"
        self.comment = f"cf-mysql-consul lab {root.resolve()}"[-250:]

    # ---- cgroups -----------------------------------------------------------------------
    def _cgroup_rel(self, inst: Instance) -> str:
        return f"{CGROUP_PREFIX}{self.tag:04x}/{inst.slug}"

    def cgroup(self, inst: Instance) -> Path | None:
        """The cgroup directory of ``inst``'s processes, created if need be (None: no cgroup v2 here)."""
        top = cgroup2_root()
        if top is None:
            return None
        path = top / self._cgroup_rel(inst)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def remove_cgroups(self) -> list[str]:
        """Remove this lab's cgroups; returns those still in use (a process the lab no longer knows)."""
        top = cgroup2_root()
        lab_dir = top / f"{CGROUP_PREFIX}{self.tag:04x}" if top is not None else None
        if lab_dir is None or not lab_dir.exists():
            return []
        busy = []
        for child in sorted(p for p in lab_dir.iterdir() if p.is_dir()):
            try:
                child.rmdir()
            except OSError:
                busy.append(child.name)
        if not busy:
            lab_dir.rmdir()
        return busy

    def strays(self, inst: Instance, pids: Iterable[int]) -> list[int]:
        """Of ``pids`` (``inst``'s processes), those not in its cgroup: partitions would miss them."""
        want = f"0::/{self._cgroup_rel(inst)}"
        out = []
        for pid in pids:
            try:
                lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
            except OSError:
                continue
            if want not in lines:
                out.append(pid)
        return out

    # ---- partitions --------------------------------------------------------------------
    def cuts(self) -> list[Cut]:
        """The partitions in force (as recorded when they were put in force)."""
        try:
            raw = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return []
        return [Cut(tuple(c["a"]), tuple(c["b"])) for c in raw]

    def rules_present(self) -> bool:
        """Whether this lab's chains exist in iptables (a partition, or one not cleaned up)."""
        if shutil.which("iptables") is None:
            return False
        return _run(["iptables", "-t", "filter", "-n", "-L", f"{self.chain}-cut"]).returncode == 0

    def _member(self, name: str) -> Member:
        for n, inst in enumerate(self.instances, start=1):
            if inst.name == name:
                return Member(n, inst.address, self._cgroup_rel(inst))
        raise PartitionError(f"unknown instance {name!r}")

    def partition(self, a: Sequence[Instance], b: Sequence[Instance]) -> Cut:
        """Cut ``a`` from ``b`` (both ways), in addition to any partition already in force."""
        if not a or not b:
            raise PartitionError("a partition needs an instance on each side")
        both = {i.name for i in a} & {i.name for i in b}
        if both:
            raise PartitionError(f"{', '.join(sorted(both))} cannot be on both sides of a partition")
        if cgroup2_root() is None:
            raise PartitionError("partitions need the cgroup v2 hierarchy mounted (mount -t cgroup2 none "
                                 "/sys/fs/cgroup/unified), then a restarted lab (./inv lab.down && ./inv lab.up)")
        for tool in ("iptables", "iptables-restore"):
            if shutil.which(tool) is None:
                raise PartitionError(f"partitions need {tool} (Debian package iptables)")
        cut = Cut(tuple(i.name for i in a), tuple(i.name for i in b))
        self._apply([*self.cuts(), cut])
        return cut

    def _hooks(self) -> tuple[tuple[str, str, str], ...]:
        """(table, built-in chain, this lab's chain): marking on the way out, dropping on arrival."""
        return (("mangle", "OUTPUT", f"{self.chain}-mark"), ("filter", "INPUT", f"{self.chain}-cut"))

    def _apply(self, cuts: list[Cut]) -> None:
        sides = [([self._member(n) for n in c.a], [self._member(n) for n in c.b]) for c in cuts]
        result = _run(["iptables-restore", "--noflush"], ruleset(self.chain, self.tag, sides))
        if result.returncode != 0:
            raise PartitionError(f"iptables-restore refused the partition rules: {result.stderr.strip()}")
        for table, hook, chain in self._hooks():
            jump = [hook, "-m", "comment", "--comment", self.comment, "-j", chain]
            if _run(["iptables", "-t", table, "-C", *jump]).returncode != 0:
                done = _run(["iptables", "-t", table, "-I", jump[0], "1", *jump[1:]])
                if done.returncode != 0:
                    raise PartitionError(f"iptables -t {table} -I {' '.join(jump)}: {done.stderr.strip()}")
        self.record.parent.mkdir(parents=True, exist_ok=True)
        self.record.write_text(json.dumps([c.to_json() for c in cuts]))

    def heal(self) -> list[Cut]:
        """Lift every partition of this lab (and any rule of it left behind); returns what was in force."""
        healed = self.cuts()
        if shutil.which("iptables") is not None:
            for table, hook, chain in reversed(self._hooks()):
                jump = [hook, "-m", "comment", "--comment", self.comment, "-j", chain]
                while _run(["iptables", "-t", table, "-D", *jump]).returncode == 0:
                    pass
                if _run(["iptables", "-t", table, "-n", "-L", chain]).returncode == 0:
                    for op in ("-F", "-X"):
                        done = _run(["iptables", "-t", table, op, chain])
                        if done.returncode != 0:
                            raise PartitionError(f"iptables -t {table} {op} {chain}: {done.stderr.strip()}")
        self.record.unlink(missing_ok=True)
        return healed
