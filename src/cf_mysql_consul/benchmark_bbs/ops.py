"""BBS's database operations, each one transaction (or, for convergence, one per query), as BBS runs them.

- DesireLRP: INSERT the desired row (one transaction), then CreateUnclaimedActualLRP for each
  instance (one transaction each), as BBS's DesireLRP handler does.
- ClaimActualLRP / StartActualLRP: ``SELECT ... FOR UPDATE`` of the ordinary actual LRP, check
  the state transition, and UPDATE only when something changes (StartActualLRP INSERTs a
  running row when there is none).
- Fetches: actual LRPs by cell, all actual LRPs, all desired scheduling infos (no run info).
- Convergence gathering: the queries of BBS's ``ConvergeLRPs``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from cf_mysql_consul.benchmark_bbs import payloads
from cf_mysql_consul.benchmark_bbs.client import Cursor, Pool, query_all
from cf_mysql_consul.benchmark_bbs.errors import BbsError
from cf_mysql_consul.benchmark_bbs.schema import DOMAIN

UNCLAIMED, CLAIMED, RUNNING, CRASHED = "UNCLAIMED", "CLAIMED", "RUNNING", "CRASHED"
ORDINARY, EVACUATING, SUSPECT = 0, 1, 2
STALE_UNCLAIMED_NS = 30 * 1_000_000_000

SCHEDULING_INFO_COLUMNS = (
    "desired_lrps.process_guid", "desired_lrps.domain", "desired_lrps.log_guid", "desired_lrps.annotation",
    "desired_lrps.instances", "desired_lrps.memory_mb", "desired_lrps.disk_mb", "desired_lrps.max_pids",
    "desired_lrps.rootfs", "desired_lrps.routes", "desired_lrps.volume_placement",
    "desired_lrps.modification_tag_epoch", "desired_lrps.modification_tag_index", "desired_lrps.placement_tags",
)
ACTUAL_LRP_COLUMNS = (
    "process_guid", "instance_index", "presence", "domain", "state", "instance_guid", "cell_id",
    "placement_error", "since", "net_info", "internal_routes", "metric_tags", "routable", "availability_zone",
    "modification_tag_epoch", "modification_tag_index", "crash_count", "crash_reason",
)
_COL = {name: i for i, name in enumerate(ACTUAL_LRP_COLUMNS)}


@dataclass(frozen=True, slots=True)
class ActualLRP:
    """The fields of an actual LRP the benchmark acts on."""

    process_guid: str
    index: int
    domain: str
    state: str
    instance_guid: str
    cell_id: str


def _now() -> int:
    return time.time_ns()


def _actual(row: tuple[Any, ...]) -> ActualLRP:
    return ActualLRP(row[_COL["process_guid"]], int(row[_COL["instance_index"]]), row[_COL["domain"]],
                     row[_COL["state"]], row[_COL["instance_guid"]], row[_COL["cell_id"]])


def desire_lrp(pool: Pool, guid: str, *, instances: int = 1) -> None:
    """BBS DesireLRP: the desired row, then one UNCLAIMED actual LRP per instance."""
    desired = {
        "process_guid": guid, "domain": DOMAIN, "log_guid": "some-log-guid",
        "annotation": f"created-at: {time.strftime('%Y-%m-%d %H:%M:%S')}", "instances": instances,
        "memory_mb": 1024, "disk_mb": 512, "max_pids": 0, "rootfs": "some:rootfs",
        "routes": payloads.encode(payloads.routes(guid)),
        "volume_placement": payloads.encode({"driver_names": []}),
        "modification_tag_epoch": str(uuid.uuid4()), "modification_tag_index": 0,
        "run_info": payloads.encode(payloads.run_info(guid)), "placement_tags": "[]", "metric_tags": "{}",
    }
    columns = ", ".join(desired)
    marks = ", ".join(["%s"] * len(desired))

    def insert_desired(cur: Cursor) -> None:
        cur.execute_and_commit(f"INSERT INTO desired_lrps ({columns}) VALUES ({marks})", tuple(desired.values()))

    pool.transact(insert_desired)
    for index in range(instances):
        try:
            create_unclaimed_actual_lrp(pool, guid, index)
        except BbsError as exc:  # a retry after a commit whose reply was lost
            if exc.kind != "exists":
                raise


def create_unclaimed_actual_lrp(pool: Pool, guid: str, index: int) -> None:
    """BBS CreateUnclaimedActualLRP: one INSERT."""
    def insert(cur: Cursor) -> None:
        cur.execute_and_commit(
            "INSERT INTO actual_lrps (process_guid, instance_index, domain, state, since, net_info, "
            "modification_tag_epoch, modification_tag_index, internal_routes, metric_tags, routable) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, 0, '[]', '{}', false)",
            (guid, index, DOMAIN, UNCLAIMED, _now(), payloads.encode(payloads.EMPTY_NET_INFO), str(uuid.uuid4())))

    pool.transact(insert)


def _fetch_for_update(cur: Cursor, guid: str, index: int) -> tuple[Any, ...] | None:
    cur.execute(f"SELECT {', '.join(ACTUAL_LRP_COLUMNS)} FROM actual_lrps "
                "WHERE process_guid = %s AND instance_index = %s AND presence = %s FOR UPDATE",
                (guid, index, ORDINARY))
    row: tuple[Any, ...] | None = cur.fetchone()
    return row


def claim_actual_lrp(pool: Pool, guid: str, index: int, instance_guid: str, cell_id: str) -> bool:
    """BBS ClaimActualLRP; returns True when it wrote (False: already claimed by this instance)."""
    def claim(cur: Cursor) -> bool:
        row = _fetch_for_update(cur, guid, index)
        if row is None:
            raise BbsError("not_found", f"actual LRP {guid}/{index} not found")
        state, same = row[_COL["state"]], (row[_COL["instance_guid"]], row[_COL["cell_id"]]) == (instance_guid, cell_id)
        if state == CRASHED or (state in (CLAIMED, RUNNING) and not same):
            raise BbsError("cannot_transition", f"actual LRP {guid}/{index} cannot be claimed from {state}")
        if state == CLAIMED and same:
            return False
        cur.execute_and_commit("UPDATE actual_lrps SET state = %s, cell_id = %s, instance_guid = %s, "
                               "modification_tag_index = modification_tag_index + 1, placement_error = '', "
                               "since = %s, net_info = %s WHERE process_guid = %s AND instance_index = %s "
                               "AND presence = %s",
                               (CLAIMED, cell_id, instance_guid, _now(), payloads.encode(payloads.EMPTY_NET_INFO),
                                guid, index, ORDINARY))
        return True

    return pool.transact(claim)


def start_actual_lrp(pool: Pool, guid: str, index: int, instance_guid: str, cell_id: str,
                     net: dict[str, Any] | None = None) -> bool:
    """BBS StartActualLRP; returns True when it wrote (False: already running exactly so)."""
    net = net if net is not None else payloads.net_info()
    encoded_net = payloads.encode(net)

    def start(cur: Cursor) -> bool:
        row = _fetch_for_update(cur, guid, index)
        if row is None:
            cur.execute_and_commit(
                "INSERT INTO actual_lrps (process_guid, instance_index, domain, state, instance_guid, cell_id, "
                "since, net_info, modification_tag_epoch, modification_tag_index, internal_routes, metric_tags, "
                "routable) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, '[]', '{}', true)",
                (guid, index, DOMAIN, RUNNING, instance_guid, cell_id, _now(), encoded_net, str(uuid.uuid4())))
            return True
        state, same = row[_COL["state"]], (row[_COL["instance_guid"]], row[_COL["cell_id"]]) == (instance_guid, cell_id)
        if state == RUNNING and same and payloads.decode(row[_COL["net_info"]]) == net:
            return False
        if state == CRASHED or (state == RUNNING and not same):
            raise BbsError("cannot_transition", f"actual LRP {guid}/{index} cannot be started from {state}")
        cur.execute_and_commit("UPDATE actual_lrps SET state = %s, cell_id = %s, instance_guid = %s, "
                               "modification_tag_index = modification_tag_index + 1, placement_error = '', "
                               "since = %s, net_info = %s, internal_routes = '[]', metric_tags = '{}', "
                               "routable = true WHERE process_guid = %s AND instance_index = %s AND presence = %s",
                               (RUNNING, cell_id, instance_guid, _now(), encoded_net, guid, index, ORDINARY))
        return True

    return pool.transact(start)


def actual_lrps_by_cell(pool: Pool, cell_id: str) -> list[ActualLRP]:
    """BBS ActualLRPs(filter cell_id): every column, decoded (the rep bulk fetch)."""
    def fetch(cur: Cursor) -> list[ActualLRP]:
        rows = query_all(cur, f"SELECT {', '.join(ACTUAL_LRP_COLUMNS)} FROM actual_lrps WHERE cell_id = %s",
                         (cell_id,))
        for row in rows:
            payloads.decode(row[_COL["net_info"]])
        return [_actual(r) for r in rows]

    return pool.transact(fetch)


def all_actual_lrps(pool: Pool) -> list[ActualLRP]:
    """BBS ActualLRPs with no filter."""
    def fetch(cur: Cursor) -> list[ActualLRP]:
        rows = query_all(cur, f"SELECT {', '.join(ACTUAL_LRP_COLUMNS)} FROM actual_lrps")
        for row in rows:
            payloads.decode(row[_COL["net_info"]])
        return [_actual(r) for r in rows]

    return pool.transact(fetch)


def desired_scheduling_infos(pool: Pool) -> int:
    """BBS DesiredLRPSchedulingInfos: every desired LRP without its run info; returns the count."""
    def fetch(cur: Cursor) -> int:
        rows = query_all(cur, f"SELECT {', '.join(SCHEDULING_INFO_COLUMNS)} FROM desired_lrps")
        for row in rows:
            payloads.decode(row[9])
        return len(rows)

    return pool.transact(fetch)


def _cells_in(cells: list[str]) -> tuple[str, list[str]]:
    return ", ".join(["%s"] * len(cells)), list(cells)


def convergence_gathering(pool: Pool, cells: list[str]) -> int:
    """The queries of BBS's ConvergeLRPs, each on its own; returns how many rows came back."""
    now = _now()
    marks, bindings = _cells_in(cells)
    sched = ", ".join(SCHEDULING_INFO_COLUMNS)
    join = "FROM desired_lrps JOIN actual_lrps ON desired_lrps.process_guid = actual_lrps.process_guid"
    queries: list[tuple[str, list[Any]]] = [
        ("SELECT domain, expire_time FROM domains", []),
        (f"SELECT {', '.join(ACTUAL_LRP_COLUMNS)} FROM actual_lrps WHERE presence = %s AND cell_id NOT IN ({marks})",
         [EVACUATING, *bindings]),
        ("SELECT domain FROM domains WHERE expire_time > %s", [now]),
        (f"SELECT {sched}, actual_lrps.instance_index {join} WHERE actual_lrps.state = %s AND actual_lrps.since < %s "
         "AND actual_lrps.presence = %s", [UNCLAIMED, now - STALE_UNCLAIMED_NS, ORDINARY]),
        (f"SELECT {sched}, actual_lrps.instance_index, actual_lrps.cell_id, actual_lrps.presence {join} "
         f"WHERE (actual_lrps.state = %s OR actual_lrps.state = %s) AND actual_lrps.cell_id NOT IN ({marks}) "
         "AND actual_lrps.cell_id <> ''", [RUNNING, CLAIMED, *bindings]),
        (f"SELECT {sched}, COUNT(actual_lrps.instance_index) AS actual_instances, "
         "GROUP_CONCAT(actual_lrps.instance_index) AS existing_indices FROM desired_lrps "
         "LEFT OUTER JOIN actual_lrps ON desired_lrps.process_guid = actual_lrps.process_guid "
         "AND actual_lrps.presence = %s GROUP BY desired_lrps.process_guid "
         "HAVING COUNT(actual_lrps.instance_index) <> desired_lrps.instances", [ORDINARY]),
    ]
    for presence in (ORDINARY, SUSPECT):
        queries.append(("SELECT actual_lrps.process_guid, actual_lrps.instance_index, actual_lrps.domain "
                        "FROM actual_lrps JOIN domains ON actual_lrps.domain = domains.domain "
                        "LEFT JOIN desired_lrps ON actual_lrps.process_guid = desired_lrps.process_guid "
                        "WHERE actual_lrps.presence = %s AND desired_lrps.process_guid IS NULL", [presence]))
    queries += [
        ("SELECT process_guid, instance_index, domain FROM actual_lrps WHERE presence IN (%s, %s) AND state = %s "
         "GROUP BY process_guid, instance_index, domain HAVING count(*) >= 2", [ORDINARY, SUSPECT, RUNNING]),
        (f"SELECT process_guid, instance_index, domain FROM actual_lrps WHERE presence = %s AND cell_id IN ({marks})",
         [SUSPECT, *bindings]),
        ("SELECT process_guid, instance_index, domain FROM actual_lrps WHERE presence = %s AND state = %s",
         [SUSPECT, RUNNING]),
        ("SELECT process_guid, instance_index, domain FROM actual_lrps WHERE presence = %s AND state = %s",
         [SUSPECT, CLAIMED]),
        (f"SELECT {sched}, actual_lrps.instance_index, actual_lrps.since, actual_lrps.crash_count {join} "
         "WHERE actual_lrps.state = %s AND actual_lrps.presence = %s", [CRASHED, ORDINARY]),
        (f"SELECT actual_lrps.process_guid, actual_lrps.instance_index, actual_lrps.domain, actual_lrps.instance_guid, "
         f"actual_lrps.cell_id, actual_lrps.internal_routes, desired_lrps.routes {join} "
         "WHERE actual_lrps.state = %s AND actual_lrps.presence = %s", [RUNNING, ORDINARY]),
        (f"SELECT actual_lrps.process_guid, actual_lrps.instance_index, actual_lrps.domain, actual_lrps.instance_guid, "
         f"actual_lrps.cell_id, actual_lrps.metric_tags, desired_lrps.metric_tags {join} "
         "WHERE actual_lrps.state = %s AND actual_lrps.presence = %s", [RUNNING, ORDINARY]),
    ]
    total = 0
    for sql, args in queries:
        def run(cur: Cursor, sql: str = sql, args: list[Any] = args) -> int:
            return len(query_all(cur, sql, args))

        total += pool.transact(run)
    return total
