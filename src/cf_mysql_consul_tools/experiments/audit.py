"""After a run: is every acknowledged write on every node, do the nodes agree, did restarted nodes
rejoin, and did two proxies ever serve at once?

- Writes: every LRP whose DesireLRP was acknowledged has its desired row on every node, and
  its actual LRP is in the last acknowledged state (instance and cell) unless a later write of
  it failed (its outcome is unknown, so it is only required to exist).
- Agreement: ``CHECKSUM TABLE`` of BBS's tables is equal on every node, read after each node
  has applied everything (``wsrep_sync_wait``).
- Rejoin: every mysql node is Synced in a Primary component of the full size.
- Overlap: ``cf_mysql_consul_tools.serving.audit`` over the proxies' ``events.jsonl`` and
  consul-lock's audit logs: serving intervals (traffic enabled -> disabled, or the process's
  end), minus the windows in which the runner had killed or paused a proxy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pymysql

from cf_mysql_consul.benchmark_bbs.schema import AUDITED_TABLES
from cf_mysql_consul.benchmark_bbs.workload import Acks
from cf_mysql_consul.galera import SYNCED
from cf_mysql_consul_tools import serving
from cf_mysql_consul_tools.experiments.target import Target
from cf_mysql_consul_tools.lab.lab import LabError
from cf_mysql_consul_tools.lab.waiting import WaitTimeout, wait_until

WRITES_CHECK = "acknowledged writes on every node"
CHECKSUMS_CHECK = "table checksums equal"
REJOIN_CHECK = "every node rejoined and Synced"
OVERLAP_CHECK = "at most one proxy served at any instant"


@dataclass
class Check:
    """One line of the verdict."""

    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def _node_rows(conn: pymysql.Connection[Any], database: str) -> tuple[set[str], dict[str, tuple[str, str, str]]]:
    with conn.cursor() as cur:
        cur.execute("SET SESSION wsrep_sync_wait = 1")
        cur.execute(f"SELECT process_guid FROM `{database}`.desired_lrps")
        desired = {str(r[0]) for r in cur.fetchall()}
        cur.execute(f"SELECT process_guid, state, instance_guid, cell_id FROM `{database}`.actual_lrps "
                    "WHERE instance_index = 0 AND presence = 0")
        actual = {str(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in cur.fetchall()}
    return desired, actual


def audit_writes(lab: Target, acks: Acks, database: str) -> Check:
    """Every acknowledged write present (in its acknowledged state) on every mysql node."""
    problems: list[str] = []
    counts: dict[str, int] = {}
    for inst in lab.deployment.with_job("mysql"):
        try:
            with lab.mysql(inst.name, read_timeout=60) as conn:
                desired, actual = _node_rows(conn, database)
        except (pymysql.MySQLError, OSError) as exc:
            problems.append(f"{inst.name}: cannot read ({exc})")
            continue
        counts[inst.name] = len(desired)
        missing = sorted(acks.desired - desired)
        if missing:
            problems.append(f"{inst.name}: {len(missing)} acknowledged desired LRPs missing, e.g. {missing[:3]}")
        wrong = []
        for guid, expected in acks.actual.items():
            if guid not in acks.desired:
                continue
            got = actual.get(guid)
            if got is None:
                wrong.append(f"{guid} has no actual LRP")
            elif guid not in acks.unknown and got != expected:
                wrong.append(f"{guid} is {got}, acknowledged {expected}")
        if wrong:
            problems.append(f"{inst.name}: {len(wrong)} actual LRPs not as acknowledged, e.g. {wrong[:3]}")
    detail = "; ".join(problems) if problems else (
        f"{len(acks.desired)} acknowledged LRPs present on every node ({len(acks.unknown)} with a failed "
        f"later write checked for presence only)")
    return Check(WRITES_CHECK, not problems, detail,
                 {"acknowledged": len(acks.desired), "unknown": len(acks.unknown), "rows": counts})


def checksums(lab: Target, database: str) -> Check:
    """``CHECKSUM TABLE`` per node; equal on every node."""
    sums: dict[str, dict[str, int | None]] = {}
    errors = []
    for inst in lab.deployment.with_job("mysql"):
        try:
            with lab.mysql(inst.name, read_timeout=120) as conn, conn.cursor() as cur:
                cur.execute("SET SESSION wsrep_sync_wait = 1")
                cur.execute("CHECKSUM TABLE " + ", ".join(f"`{database}`.{t}" for t in AUDITED_TABLES))
                sums[inst.name] = {str(r[0]).split(".")[-1]: r[1] for r in cur.fetchall()}
        except (pymysql.MySQLError, OSError) as exc:
            errors.append(f"{inst.name}: {exc}")
    distinct = {json.dumps(v, sort_keys=True) for v in sums.values()}
    ok = not errors and len(distinct) == 1
    if ok:
        detail = f"equal on {len(sums)} nodes"
    else:
        detail = "; ".join(errors) or "differ: " + ", ".join(f"{k} {v}" for k, v in sums.items())
    return Check(CHECKSUMS_CHECK, ok, detail, {"checksums": sums})


def rejoined(lab: Target, *, timeout: float) -> Check:
    """Every mysql node Synced, in a Primary component with every member."""
    nodes = lab.deployment.with_job("mysql")
    size = len(nodes) + len(lab.deployment.with_job("arbitrator"))
    state: dict[str, str] = {}

    def all_synced() -> bool:
        for inst in nodes:
            try:
                st = lab.galera_status(inst.name)
            except (pymysql.MySQLError, OSError, LabError) as exc:
                state[inst.name] = f"down ({exc})"
                return False
            state[inst.name] = (f"{st.get('wsrep_local_state_comment')} ({st.get('wsrep_cluster_status')}, "
                                f"size {st.get('wsrep_cluster_size')})")
            if st.get("wsrep_local_state") != str(SYNCED) or st.get("wsrep_cluster_size") != str(size):
                return False
        return True

    try:
        wait_until(all_synced, timeout=timeout, what="every mysql node Synced", interval=0.5)
        ok = True
    except WaitTimeout:
        ok = False
    return Check(REJOIN_CHECK, ok, ", ".join(f"{k}: {v}" for k, v in state.items()), {})


def overlap(lab: Target, *, since: float, until: float, not_serving: Mapping[str, list[tuple[float, float]]]) -> Check:
    """No two proxies serving at the same time between monotonic ``since`` and ``until``."""
    dirs = {i.name: lab.instance_dir(i) for i in lab.deployment.with_job("proxy")}
    report = serving.audit(dirs, since=since, not_serving=not_serving)
    found = [(o.first.instance, o.second.instance, o.start, min(o.end, until))
             for o in report.overlaps if o.start < until]
    source = "proxy events and consul-lock audit"
    detail = (f"no overlap ({source})" if not found else
              "; ".join(f"{a} and {b} both served for {(e - s) * 1000:.0f} ms" for a, b, s, e in found))
    return Check(OVERLAP_CHECK, not found, detail,
                 {"overlaps": [{"first": a, "second": b, "start": s, "end": e} for a, b, s, e in found],
                  "source": source})
