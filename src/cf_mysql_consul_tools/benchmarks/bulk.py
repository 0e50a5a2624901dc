"""``bench.bulk``: benchmark-bbs's bulk reads, alone, against the floor the machine sets.

A fresh lab is seeded with ``lrps`` LRPs by the workload's own seeding (directly to mysql/0,
many workers), then each bulk read of the measurement runs ``rounds`` times on its own through
proxy/0 (pinned to mysql/0), exactly as the workload runs it (PyMySQL, whole rows, payloads
decoded). Beside it, in the same run: the floor, the same SELECTs by the MariaDB command-line
client (C, rows printed to /dev/null, no decoding), and the seed's Go BBS figures (published,
not measured here). What a read costs above the floor is ours (Python: protocol parsing, row
decoding); the floor itself is MariaDB and the machine. ``profile`` writes a py-spy profile of
the Python reads (speedscope JSON).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cf_mysql_consul.benchmark_bbs import ops, schema
from cf_mysql_consul.benchmark_bbs.client import Pool
from cf_mysql_consul.benchmark_bbs.config import BenchmarkConfig
from cf_mysql_consul.benchmark_bbs.resolve import FixedResolver
from cf_mysql_consul.benchmark_bbs.workload import Workload
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.benchmarks.labproxy import LabProxy
from cf_mysql_consul_tools.benchmarks.labrun import bench_lab
from cf_mysql_consul_tools.experiments.verdict import seed_figures
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.waiting import wait_until

Log = Callable[[str], None]
DATABASE = "diego"
DEFAULT_PREFIX = "127.0.17"


@dataclass(frozen=True, slots=True)
class Read:
    """One bulk read: the workload's call, and the SELECTs of its floor."""

    metric: str
    label: str
    run: Callable[[Pool, list[str]], Any]
    floor_sql: tuple[str, ...]


_ACTUALS = f"SELECT {', '.join(ops.ACTUAL_LRP_COLUMNS)} FROM actual_lrps"
_SCHEDULING = f"SELECT {', '.join(ops.SCHEDULING_INFO_COLUMNS)} FROM desired_lrps"
READS = (
    Read("RepBulkFetching", "rep bulk fetch (one cell)", lambda pool, cells: ops.actual_lrps_by_cell(pool, cells[0]),
         (f"{_ACTUALS} WHERE cell_id = 'cell-0'",)),
    Read("FetchActualLRPsAndSchedulingInfos", "fetch all actualLRPs",
         lambda pool, cells: (ops.all_actual_lrps(pool), ops.desired_scheduling_infos(pool)),
         (_ACTUALS, _SCHEDULING)),
    Read("NsyncBulkerFetching", "fetch all desired LRP scheduling info",
         lambda pool, cells: ops.desired_scheduling_infos(pool), (_SCHEDULING,)),
    Read("ConvergenceGathering", "BBS' internal gathering of LRPs",
         lambda pool, cells: ops.convergence_gathering(pool, cells), ()),
)


@dataclass(frozen=True, slots=True)
class Figures:
    """One read: every round's seconds (ours, the floor), and the seed's published average."""

    metric: str
    label: str
    ours: tuple[float, ...]
    floor: tuple[float, ...]
    seed: tuple[float, ...]

    @property
    def ours_median(self) -> float:
        """Median of our rounds."""
        return statistics.median(self.ours)

    @property
    def floor_median(self) -> float | None:
        """Median of the floor's rounds (None: no floor for this read)."""
        return statistics.median(self.floor) if self.floor else None


def seed_averages(metric: str) -> tuple[float, ...]:
    """The seed's published averages of ``metric`` (one per seed experiment that has it)."""
    return tuple(entry["metrics"][metric][2] for entry in seed_figures().values()
                 if metric in (entry.get("metrics") or {}))


def _floor(lab: Lab, host: str, sql: tuple[str, ...]) -> float:
    """Seconds the MariaDB command-line client takes to run ``sql`` and print every row to /dev/null."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise RuntimeError("the MariaDB client is missing (Debian package mariadb-client)")
    started = time.monotonic()
    for statement in sql:
        user, password = access.mysql_admin(lab.deployment)
        subprocess.run([client, "-h", host, "-P", "3306", "-u", user, f"-p{password}", "-N", "-B",
                        DATABASE, "-e", statement], stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - started


@contextmanager
def _profiled(path: Path | None, log: Log) -> Iterator[None]:
    """py-spy records this process (every thread, idle included) while the block runs."""
    if path is None:
        yield
        return
    spy = shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("py-spy is missing: it is in the dev extra (pip install -e '.[dev]')")
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([spy, "record", "--pid", str(os.getpid()), "--idle", "--format", "speedscope",
                             "--rate", "200", "--output", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        proc.send_signal(2)  # SIGINT: py-spy writes its file and exits
        _, err = proc.communicate(timeout=60)
        log(f"profile written to {path}" if path.exists() else f"py-spy wrote nothing: {err.decode()[-300:]}")


def run_bulk_bench(*, lrps: int, rounds: int, prefix: str | None, root: str | None, log: Log,
                   keep_lab: bool = False, profile: Path | None = None, seed_workers: int = 32) -> list[Figures]:
    """Bring up a lab, seed it, time every read ``rounds`` times (ours and the floor, in turns)."""
    with bench_lab(prefix, root, log=log, keep=keep_lab) as lab:
        node = lab.instance("mysql/0")
        user, password = access.mysql_admin(lab.deployment)
        with lab.mysql(node.name) as conn:
            schema.recreate(conn, DATABASE)
        config = BenchmarkConfig(desired_lrps=lrps, num_populate_workers=seed_workers, database_username=user,
                                 database_password=password, database_name=DATABASE).check()
        seeding = Pool(FixedResolver([f"{node.address}:3306"]), user=user, password=password, database=DATABASE)
        started = time.monotonic()
        outcome = Workload(config, seeding).seed()
        seeding.close()
        log(f"seeded {outcome.seeded} LRPs in {time.monotonic() - started:.0f} s (directly to mysql/0)")
        proxy = LabProxy.of(lab, "proxy/0")
        proxy.enable(preferred="mysql/0", message="bench.bulk: pinned to mysql/0")
        wait_until(lambda: proxy.active() == "mysql/0" and proxy.health_status() == 200, timeout=60,
                   what="proxy/0 to serve through mysql/0")
        pool = Pool(FixedResolver([f"{proxy.host}:{proxy.port}"]), user=user, password=password, database=DATABASE)
        cells = Workload(replace(config, num_reps=10), pool).cells()
        ours: dict[str, list[float]] = {r.metric: [] for r in READS}
        floor: dict[str, list[float]] = {r.metric: [] for r in READS}
        with _profiled(profile, log):
            for n in range(rounds):
                for read in READS:
                    t0 = time.monotonic()
                    read.run(pool, cells)
                    ours[read.metric].append(time.monotonic() - t0)
                    if read.floor_sql:
                        floor[read.metric].append(_floor(lab, proxy.host, read.floor_sql))
                log(f"round {n + 1}/{rounds}: " + ", ".join(f"{r.metric} {ours[r.metric][-1]:.2f} s" for r in READS))
        pool.close()
    return [Figures(r.metric, r.label, tuple(ours[r.metric]), tuple(floor[r.metric]), seed_averages(r.metric))
            for r in READS]
