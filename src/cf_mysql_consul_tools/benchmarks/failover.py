"""``bench.failover``: the outage a client sees when the active Galera node dies or hangs.

Each run faults mysql/0 (SIGKILL, or SIGSTOP = a hung node) while two clients write through
two proxies in front of it at once, so both face the very same fault:
- ours: proxy/0 of the lab (rendered job: checks every 500 ms, 1 s timeout, fall 1), pinned
  to mysql/0 through ``preferredBackend``;
- baseline: HAProxy 2.6 in TCP mode with its documented default check timings (``inter 2s
  fall 3 rise 2``, check timeout = inter) on the same galera-healthcheck endpoint, mysql/1 as
  ``backup`` and ``on-marked-down shutdown-sessions``: the classic Galera-behind-HAProxy setup
  and the closest stand-in for switchboard we can run here (switchboard itself is a Go
  binary not available on this machine; its own defaults are slower still).
Per run and proxy two figures: "switch" (fault -> a connection opened after the fault is
answered by mysql/1) and "first write" (fault -> first INSERT acknowledged on a connection
opened after the fault). The write also waits for Galera to drop the dead member from the
cluster (``evs.suspect_timeout``, 5 s by default, on mysql/1 and garbd), whichever proxy is used.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
from rich.console import Console
from rich.table import Table

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.benchmarks.haproxy import HAProxy, Server, tcp_config, wait_port_free
from cf_mysql_consul_tools.benchmarks.labproxy import LabProxy, galera_settled
from cf_mysql_consul_tools.benchmarks.labrun import bench_lab, lab_location
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.waiting import wait_until

FAULTS = {"kill": "SIGKILL", "pause": "SIGSTOP"}
TARGET_SECONDS = {"kill": 1.5, "pause": 2.5}
PROXIES = ("ours", "haproxy")
HAPROXY_HOST_SUFFIX = 21
HAPROXY_DEFAULTS = "inter 2s fall 3 rise 2"
RUN_TIMEOUT_SECONDS = 60.0
CLIENT_TIMEOUT_SECONDS = 1.0
"""connect/read/write timeout of the probing clients: a hung server costs a client at most this."""


@dataclass
class Probe:
    """Two client threads through one proxy: a writer and a "which node answers" prober."""

    host: str
    user: str
    password: str
    old_node: str
    new_node: str
    on_old_node: bool = False
    answered: bool = False
    fault_at: float | None = None
    first_write: float | None = None
    switch: float | None = None
    writes: int = 0
    errors: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Start both threads (they run until ``stop``)."""
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._write, self._switch)]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        """Stop both threads (bounded by the client timeouts)."""
        self.done.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _connect(self) -> pymysql.Connection[Any]:
        t = CLIENT_TIMEOUT_SECONDS
        return pymysql.connect(
            host=self.host,
            port=3306,
            user=self.user,
            password=self.password,
            autocommit=True,
            connect_timeout=t,
            read_timeout=t,
            write_timeout=t,
        )

    def _write(self) -> None:
        while not self.done.is_set():
            opened = time.monotonic()
            try:
                with self._connect() as conn, conn.cursor() as cur:
                    while not self.done.is_set():
                        cur.execute("INSERT INTO bench.outage (via) VALUES (%s)", (self.host,))
                        self.writes += 1
                        fault = self.fault_at
                        if fault is not None and opened > fault and self.first_write is None:
                            self.first_write = time.monotonic() - fault
                        self.done.wait(0.02)
            except pymysql.MySQLError:
                self.errors += 1
                self.done.wait(0.02)

    def _switch(self) -> None:
        while not self.done.is_set():
            opened = time.monotonic()
            try:
                with self._connect() as conn, conn.cursor() as cur:
                    cur.execute("SELECT @@bind_address")
                    row = cur.fetchone()
                fault = self.fault_at
                if fault is None:
                    self.on_old_node = bool(row and row[0] == self.old_node)
                    self.answered = True
                elif opened > fault and row and row[0] == self.new_node and self.switch is None:
                    self.switch = time.monotonic() - fault
            except pymysql.MySQLError:
                pass
            self.done.wait(0.05)


class StaleRun(RuntimeError):
    """The set-up did not hold until the fault (a proxy was not on mysql/0): run it again."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """Seconds from the fault, per proxy (None: not within the run's timeout)."""

    fault: str
    switch: dict[str, float | None]
    first_write: dict[str, float | None]


def haproxy_config(lab: Lab, bind: str) -> str:
    """The baseline: HAProxy's default check timings on galera-healthcheck, mysql/1 as backup."""
    opts = f"check port 9200 {HAPROXY_DEFAULTS} on-marked-down shutdown-sessions"
    servers = [
        Server("mysql0", lab.instance("mysql/0").address, 3306, opts),
        Server("mysql1", lab.instance("mysql/1").address, 3306, f"{opts} backup"),
    ]
    checks = "option httpchk GET /api/v1/status\nhttp-check expect status 200"
    return tcp_config(bind, 3306, servers, defaults=checks)


def _answered_by(host: str, admin: tuple[str, str], address: str) -> bool:
    conn = pymysql.connect(host=host, user=admin[0], password=admin[1], connect_timeout=2, read_timeout=2)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT @@bind_address")
        row = cur.fetchone()
    return bool(row and row[0] == address)


def restore(lab: Lab, proxy: LabProxy, ha_host: str, fault: str) -> None:
    """Bring mysql/0 back, and both proxies back onto it, before the next run."""
    if fault == "kill":
        lab.start("mysql/0")
    else:
        lab.resume("mysql/0", "mysql.mariadbd")
    # A resumed node still believes in its old view until it learns it was dropped: wait until
    # both nodes agree on one view of 3 (same conf id), both Synced.
    wait_until(lambda: galera_settled(lab), timeout=180, what="mysql/0 and mysql/1 Synced in one view of 3")
    wait_until(
        lambda: all(b["healthy"] for b in proxy.backends()), timeout=60, what="proxy/0 to see both backends healthy"
    )
    proxy.enable(preferred="mysql/0", message="bench.failover: pinned to mysql/0")
    address, admin = lab.instance("mysql/0").address, access.mysql_admin(lab.deployment)
    wait_until(
        lambda: proxy.active() == "mysql/0" and _answered_by(proxy.host, admin, address),
        timeout=60,
        what="proxy/0 to serve through mysql/0",
    )
    wait_until(lambda: _answered_by(ha_host, admin, address), timeout=60, what="HAProxy to route to mysql/0 again")


def one_run(lab: Lab, probes: dict[str, Probe], fault: str) -> RunResult:
    """Start the clients, inject ``fault`` into mysql/0, wait until every figure is in."""
    for probe in probes.values():
        probe.start()
    try:
        wait_until(
            lambda: all(p.writes >= 3 and p.answered for p in probes.values()),
            timeout=60,
            what="writes through both proxies before the fault",
        )
        if not all(p.on_old_node for p in probes.values()):
            raise StaleRun("a proxy left mysql/0 before the fault")
        fault_at = time.monotonic()
        for probe in probes.values():
            probe.fault_at = fault_at
        if fault == "kill":
            lab.kill("mysql/0", "mysql.mariadbd")
        else:
            lab.pause("mysql/0", "mysql.mariadbd")
        deadline = fault_at + RUN_TIMEOUT_SECONDS
        while time.monotonic() < deadline and any(p.first_write is None or p.switch is None for p in probes.values()):
            time.sleep(0.05)
    finally:
        for probe in probes.values():
            probe.stop()
    return RunResult(fault, {n: p.switch for n, p in probes.items()}, {n: p.first_write for n, p in probes.items()})


def _run_with_retries(
    lab: Lab,
    proxy: LabProxy,
    ha_host: str,
    fault: str,
    previous_fault: str,
    admin: tuple[str, str],
    log: Callable[[str], None],
    attempts: int = 3,
) -> RunResult:
    old, new = lab.instance("mysql/0").address, lab.instance("mysql/1").address
    for attempt in range(attempts):
        restore(lab, proxy, ha_host, previous_fault if attempt == 0 else "pause")
        probes = {
            "ours": Probe(proxy.host, *admin, old, new),
            "haproxy": Probe(ha_host, *admin, old, new),
        }
        try:
            return one_run(lab, probes, fault)
        except StaleRun as exc:
            log(f"set-up did not hold ({exc}); again")
    raise RuntimeError(f"could not set up a {fault} run in {attempts} attempts")


def median(values: list[float | None]) -> float | None:
    """Median, counting a timeout (None) as worse than any figure."""
    known = sorted(v for v in values if v is not None)
    if not known or len(known) <= len(values) // 2:
        return None
    ranked = known + [float("inf")] * (len(values) - len(known))
    return float(statistics.median(ranked))


def summary(results: list[RunResult]) -> dict[str, dict[str, Any]]:
    """Per fault: medians per proxy and metric, every run's figures, the target and the verdict."""
    out: dict[str, dict[str, Any]] = {}
    for fault in dict.fromkeys(r.fault for r in results):
        runs = [r for r in results if r.fault == fault]
        entry: dict[str, Any] = {"signal": FAULTS[fault], "runs": len(runs)}
        for metric in ("switch", "first_write"):
            for name in PROXIES:
                values = [getattr(r, metric)[name] for r in runs]
                entry[f"{metric}_{name}_median_s"] = median(values)
                entry[f"{metric}_{name}_runs_s"] = values
        ours = entry["first_write_ours_median_s"]
        entry["target_first_write_s"] = TARGET_SECONDS[fault]
        entry["target_met"] = ours is not None and ours <= TARGET_SECONDS[fault]
        out[fault] = entry
    return out


def _fmt(value: float | None) -> str:
    return "timeout" if value is None else f"{value:.2f}"


def print_table(console: Console, figures: dict[str, dict[str, Any]], runs: int) -> None:
    """Medians per fault: switch and first write, ours and HAProxy, beside the target."""
    table = Table(title=f"bench.failover: seconds from the fault on the active node (mysql/0), median of {runs}")
    for column in (
        "fault",
        "switch ours",
        "switch HAProxy",
        "first write ours",
        "first write HAProxy",
        "target (first write ours)",
        "ours runs (first write)",
    ):
        table.add_column(column, justify="left" if column == "fault" else "right")
    for fault, entry in figures.items():
        met = entry["target_met"]
        table.add_row(
            f"{fault} ({entry['signal']})",
            _fmt(entry["switch_ours_median_s"]),
            _fmt(entry["switch_haproxy_median_s"]),
            _fmt(entry["first_write_ours_median_s"]),
            _fmt(entry["first_write_haproxy_median_s"]),
            f"[{'green' if met else 'red'}]<= {entry['target_first_write_s']:.1f}[/]",
            " ".join(_fmt(v) for v in entry["first_write_ours_runs_s"]),
        )
    console.print(table)
    console.print(
        f"baseline: HAProxy 2.6 TCP, httpchk galera-healthcheck, {HAPROXY_DEFAULTS} (its defaults), "
        "backup server, on-marked-down shutdown-sessions; clients time out after "
        f"{CLIENT_TIMEOUT_SECONDS:g} s and reconnect."
    )


def run_failover_bench(
    *,
    runs: int,
    faults: tuple[str, ...],
    prefix: str | None,
    root: str | None,
    console: Console,
    json_path: str | None = None,
    keep_lab: bool = False,
    galera_options: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Bring up a lab, run ``runs`` faults of each kind, print the table, write the JSON.

    ``galera_options`` tune every Galera member (both setups share the lab): the survivor's
    first write waits until Galera evicts the dead node, ``evs.suspect_timeout`` (5 s) after it.
    """
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault {unknown[0]!r} (known: {', '.join(FAULTS)})")

    def log(line: str) -> None:
        console.print(f"[dim]bench.failover:[/dim] {line}")

    address_prefix, _ = lab_location(prefix, root)
    ha_host = f"{address_prefix}.{HAPROXY_HOST_SUFFIX}"
    results: list[RunResult] = []
    with bench_lab(prefix, root, log=log, keep=keep_lab, galera_options=galera_options) as lab:
        admin = access.mysql_admin(lab.deployment)
        with lab.mysql("mysql/0") as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS bench")
            cur.execute(
                "CREATE TABLE IF NOT EXISTS bench.outage (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                "via VARCHAR(32), at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))"
            )
        proxy = LabProxy.of(lab, "proxy/0")
        wait_port_free(ha_host, 3306)
        with HAProxy(haproxy_config(lab, ha_host), ha_host, 3306):
            log(f"ours: proxy/0 {proxy.host}:3306; baseline: HAProxy on {ha_host}:3306")
            restore_fault = "pause"  # nothing to restart before the first run, just settle
            for fault in faults:
                for run in range(runs):
                    result = _run_with_retries(lab, proxy, ha_host, fault, restore_fault, admin, log)
                    results.append(result)
                    restore_fault = fault
                    log(
                        f"{fault} run {run + 1}/{runs}: switch ours {_fmt(result.switch['ours'])} s, "
                        f"HAProxy {_fmt(result.switch['haproxy'])} s; first write ours "
                        f"{_fmt(result.first_write['ours'])} s, HAProxy {_fmt(result.first_write['haproxy'])} s"
                    )
            restore(lab, proxy, ha_host, restore_fault)
    figures = summary(results)
    print_table(console, figures, runs)
    if json_path:
        document = {
            "benchmark": "bench.failover",
            "lab": f"{address_prefix}.x",
            "runs": runs,
            "baseline": f"HAProxy 2.6 TCP, httpchk :9200, {HAPROXY_DEFAULTS}, backup, shutdown-sessions",
            "ours": "proxy/0 as rendered by the lab manifest (interval 500 ms, timeout 1000 ms, fall 1)",
            "galera_options": galera_options or "Galera's defaults (evs.suspect_timeout PT5S)",
            "client_timeout_seconds": CLIENT_TIMEOUT_SECONDS,
            "targets_first_write_s": TARGET_SECONDS,
            "results": figures,
        }
        Path(json_path).write_text(json.dumps(document, indent=2) + "\n")
        log(f"figures written to {json_path}")
    return figures
