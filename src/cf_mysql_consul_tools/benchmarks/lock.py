"""bench.lock: fault -> first successful write through ``mysql.service.consul`` via the new proxy.

For each fault (graceful drain, proxy SIGKILL, lock SIGKILL, agent SIGKILL, instance pause) the
median over ``runs`` of the time from the fault to the first write that succeeds through the
standby, resolving ``mysql.service.consul`` on a bystander's Consul agent (arbitrator/0), as a
client would. Baseline, in the same run: stock ``consul lock`` (Consul's defaults: session TTL
15 s, lock-delay 15 s) wrapping the proxy's traffic switch (a child that enables traffic with a
lease, renews it, disables it on SIGTERM and exits when the proxy is gone). The audit of the
proxies' events reports any overlap of serving (split brain) for each system.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import requests

from cf_mysql_consul.proxy.client import ApiError, ApiGone, ProxyClient, ProxyEndpoint
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.lab import lock_checks as lc
from cf_mysql_consul_tools.lab import processes as procs
from cf_mysql_consul_tools.lab.lab import Lab
from cf_mysql_consul_tools.lab.standins import CONSUL_BIN
from cf_mysql_consul_tools.lab.waiting import wait_until

FAULTS = ("drain", "proxy SIGKILL", "lock SIGKILL", "agent SIGKILL", "instance pause")
TARGET_SECONDS = {"drain": 1.0, "proxy SIGKILL": 3.0, "agent SIGKILL": 8.0}
"""The issue's targets (fault -> first write); besides these, every figure at most 0.1 x stock's."""
TARGET_RATIO_TO_STOCK = 0.1
CLIENT_AGENT = "arbitrator/0"
STOCK_PREFIX = "service/mysql-stock"


@dataclass(frozen=True, slots=True)
class Run:
    """One measured fault."""

    system: str
    fault: str
    seconds: float | None  # None: no write through the new proxy before the timeout
    overlap_ms: float


def _first_write(lab: Lab, new: str, t0: float, timeout: float) -> float | None:
    address = lab.instance(new).address
    while time.monotonic() - t0 < timeout:
        if lc.write_through_dns(lab, CLIENT_AGENT, timeout=0.5) == address:
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


class Stock:
    """Stock ``consul lock`` on each proxy instance, run from the host against its agent."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        """Start ``consul lock`` on instance ``name`` (in its cgroup, so that partitions reach it)."""
        inst = self.lab.instance(name)
        api = access.proxy_endpoint(self.lab.deployment, name)
        child = [sys.executable, "-m", "cf_mysql_consul_tools.benchmarks.lock", "child", "--api", api.api_url,
                 "--user", api.username, "--password", api.password]
        argv = [str(CONSUL_BIN), "lock", f"-http-addr=http://{inst.address}:8500", f"-name=stock {name}",
                STOCK_PREFIX, *child]
        self.procs[name] = subprocess.Popen(
            procs.in_instance(self.lab.instance_dir(inst), argv, self.lab.network.cgroup(inst)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def setup(self) -> None:
        for name in lc.proxies(self.lab):
            if self.lab.is_running(name, "consul-lock.consul-lock"):
                self.lab.stop(name, "consul-lock")
            inst = self.lab.instance(name)
            requests.put(f"http://{inst.address}:8500/v1/agent/service/register", timeout=5, json={
                "ID": f"mysql-{inst.slug}", "Name": "mysql", "Address": inst.address, "Port": 3306,
                "Check": {"HTTP": f"http://{inst.address}:1936/health", "Interval": "1s", "Timeout": "1s"}})
            if name not in self.procs or self.procs[name].poll() is not None:
                self.start(name)

    def signal_group(self, name: str, sig: signal.Signals) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)

    def teardown(self) -> None:
        for name, proc in self.procs.items():
            try:
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
            with contextlib.suppress(ApiError):
                access.proxy_client(self.lab.deployment, name, timeout=2).set_traffic(False, "bench.lock: stock over")
        self.procs.clear()


def restore(lab: Lab, stock: Stock | None) -> None:
    """Bring back what a fault stopped or paused and wait for a ready tier (with ``stock``: its processes
    started again, one proxy serving)."""
    if stock is not None:
        stock.teardown()
    for inst in lab.deployment.instances:
        lab.resume(inst.name)
    for name in lc.proxies(lab):  # a drained instance stays drained until its processes restart
        draining = (access.proxy_cluster(lab.deployment, name) or {}).get("draining")
        if lc.lock_state(lab, name).get("stepped_down") or draining:
            lab.stop(name, "consul-lock")
            lab.stop(name, "proxy")
    lab.up()
    if stock is not None:
        stock.setup()
        lc.wait_one_active(lab, timeout=120)
    else:
        lc.wait_ready(lab, timeout=120)


def measure(lab: Lab, system: str, fault: str, stock: Stock | None, timeout: float) -> Run:
    """Inject ``fault`` on the active instance and time the first write through the standby."""
    old = lc.wait_one_active(lab, timeout=120)
    new = next(n for n in lc.proxies(lab) if n != old)
    drains: threading.Thread | None = None
    t0 = time.monotonic()
    if fault == "drain":
        def drain() -> None:
            if stock is None:
                lc.run_drains(lab, old)
            else:  # BOSH: the proxy's drain, then monit stops every process (consul lock gets SIGTERM)
                stock.signal_group(old, signal.SIGTERM)
                lab.run_in_instance(old, ["/var/vcap/jobs/proxy/bin/drain", *lc.DRAIN_ARGS], timeout=60)
        drains = threading.Thread(target=drain)
        drains.start()
    elif fault == "proxy SIGKILL":
        lab.kill(old, "proxy.proxy")
    elif fault == "lock SIGKILL":
        if stock is None:
            lab.kill(old, "consul-lock.consul-lock")
        else:
            stock.procs[old].send_signal(signal.SIGKILL)
    elif fault == "agent SIGKILL":
        lab.kill(old, "consul_agent.consul")
    elif fault == "instance pause":
        lab.pause(old)
        if stock is not None:
            stock.signal_group(old, signal.SIGSTOP)
    seconds = _first_write(lab, new, t0, timeout)
    if drains is not None:
        drains.join()
    # The audit runs before the restore: a paused or killed proxy cannot serve from t0 on.
    not_serving = {old: [(t0, math.inf)]} if fault in ("instance pause", "proxy SIGKILL") else {}
    report = lc.audit_lab(lab, since=t0 - 0.5, not_serving=not_serving)
    overlap = sum(o.seconds for o in report.overlaps if o.end != float("inf")) * 1000
    if any(o.end == float("inf") for o in report.overlaps):
        overlap = float("inf")
    if fault == "drain":
        lab.stop(old, "proxy")
        if stock is None:
            lab.stop(old, "consul-lock")
    restore(lab, stock)
    return Run(system, fault, seconds, overlap)


def run_bench(lab: Lab, *, runs: int, stock_runs: int, faults: tuple[str, ...] = FAULTS,
              log: Any = print) -> list[Run]:
    """Measure ours (``runs`` per fault) and stock consul lock (``stock_runs`` per fault)."""
    results: list[Run] = []
    restore(lab, None)
    for fault in faults:
        for n in range(runs):
            results.append(measure(lab, "consul-lock", fault, None, timeout=60))
            log(f"consul-lock {fault} #{n + 1}: {results[-1].seconds}")
    if stock_runs:
        stock = Stock(lab)
        try:
            stock.setup()
            lc.wait_one_active(lab, timeout=120)
            for fault in faults:
                for n in range(stock_runs):
                    results.append(measure(lab, "stock consul lock", fault, stock, timeout=90))
                    log(f"stock {fault} #{n + 1}: {results[-1].seconds}")
        finally:
            stock.teardown()
            restore(lab, None)
    return results


def summarise(results: list[Run]) -> list[dict[str, Any]]:
    """Per fault: median seconds of each system, overlaps, and the ratio."""
    rows = []
    for fault in dict.fromkeys(r.fault for r in results):
        row: dict[str, Any] = {"fault": fault}
        for system, key in (("consul-lock", "ours"), ("stock consul lock", "stock")):
            runs = [r for r in results if r.fault == fault and r.system == system]
            done = [r.seconds for r in runs if r.seconds is not None]
            row[key] = statistics.median(done) if done and len(done) == len(runs) else None
            row[f"{key}_runs"] = [r.seconds for r in runs]
            row[f"{key}_max_overlap_ms"] = max((r.overlap_ms for r in runs), default=0.0)
        rows.append(row)
    return rows


def results_json(results: list[Run]) -> dict[str, Any]:
    """Everything measured, for ``--json``."""
    summary = summarise(results)
    for row in summary:
        row["target_seconds"] = TARGET_SECONDS.get(row["fault"])
        row["target_ratio_to_stock"] = TARGET_RATIO_TO_STOCK
        row["ratio_to_stock"] = row["ours"] / row["stock"] if row["ours"] is not None and row["stock"] else None
    return {"runs": [asdict(r) for r in results], "summary": summary}


# ---- the stock baseline's child: the proxy's traffic switch under `consul lock` ----------------
def child(argv: list[str]) -> int:
    """Enable traffic with a 3 s lease renewed every second; disable on SIGTERM; exit if the proxy is gone."""
    parser = argparse.ArgumentParser(prog="stock-child")
    parser.add_argument("--api", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args(argv)
    api = ProxyClient(ProxyEndpoint.from_url(args.api, args.user, args.password), timeout=0.5)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        try:
            api.set_traffic(True, "stock consul lock child", leaseSeconds=3)
        except ApiGone:
            return 1  # proxy gone: let consul lock release the lock
        except ApiError:
            pass
        stop.wait(1)
    with contextlib.suppress(ApiError):
        api.set_traffic(False, "stock consul lock child stopped")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        sys.exit(child(sys.argv[2:]))
    sys.exit("usage: python -m cf_mysql_consul_tools.benchmarks.lock child --api URL --user U --password P")


__all__ = ["FAULTS", "Run", "results_json", "run_bench", "summarise", "wait_until"]
