"""Injecting an experiment's faults at their points, through the target's API (the lab or BOSH), off the
workload's threads.

One background thread takes the faults in order: it waits until the workload reaches a
fault's point (inserted LRPs during seeding, or seconds into the measurement), resolves the
target at that moment (the master MySQL is the active proxy's backend right then), acts
(``kill``/``start``/``stop``/``pause``/``resume``, a rolling deploy, or a ``partition`` between
instances and its ``heal``, which only the lab can do), and records what it did,
when (monotonic and run-relative), how long it took and whether it worked. A fault whose point
is never reached runs when the workload ends, marked late. Restarts wait for the instance to be
healthy (``start`` does), which is how "the restarted node rejoined" is measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.experiments.spec import Fault
from cf_mysql_consul_tools.experiments.target import Target
from cf_mysql_consul_tools.lab.deploy import DeployReport
from cf_mysql_consul_tools.lab.lab import REST

Log = Callable[[str], None]
DEFAULT_PROCESS = {"master_mysql": "mysql.mariadbd", "active_proxy": "proxy.proxy", "active_proxy_vm": None,
                   "consul_leader": None}


@dataclass
class FaultRecord:
    """What one fault did."""

    id: str
    action: str
    instance: str
    process: str | None
    when: str
    t: float = 0.0             # seconds since the run started, when it began
    monotonic: float = 0.0
    seconds: float = 0.0       # how long the action took (a restart: until healthy)
    ok: bool = False
    late: bool = False
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """For verdict.json and the report."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class FaultRunner:
    """Runs ``faults`` against ``lab`` (any target) as the workload progresses (``advance`` /
    ``measurement_started``)."""

    lab: Target
    faults: tuple[Fault, ...]
    clock: Callable[[], float]  # seconds since the run started
    deploy: Callable[..., DeployReport]  # the target's rolling deploy: deploy(target, groups=..., log=...)
    log: Log = print
    records: list[FaultRecord] = field(default_factory=list)
    _inserted: int = 0
    _measuring_since: float | None = None
    _finished: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None
    _resolved: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def start(self) -> None:
        """Start the background thread."""
        self._thread = threading.Thread(target=self._run, name="faults", daemon=True)
        self._thread.start()

    def advance(self, inserted: int) -> None:
        """Seeding progress: ``inserted`` LRPs done."""
        with self._cond:
            self._inserted = max(self._inserted, inserted)
            self._cond.notify_all()

    def measurement_started(self) -> None:
        """The measurement phase begins now."""
        with self._cond:
            self._measuring_since = time.monotonic()
            self._cond.notify_all()

    def workload_done(self) -> None:
        """No further progress will come: remaining faults run now (late)."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        """Wait for every fault to finish; False when the timeout passed first."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _reached(self, fault: Fault) -> bool:
        if fault.inserted is not None:
            return self._inserted >= fault.inserted or self._measuring_since is not None
        if self._measuring_since is None or fault.measurement_seconds is None:
            return False
        return time.monotonic() - self._measuring_since >= fault.measurement_seconds

    def _run(self) -> None:
        for fault in self.faults:
            with self._cond:
                while not self._reached(fault) and not self._finished:
                    self._cond.wait(timeout=0.1)
                late = not self._reached(fault)
            self._execute(fault, late=late)

    def _resolve(self, fault: Fault) -> tuple[str, str | None]:
        target = fault.target
        if target in self._resolved:
            instance, process = self._resolved[target]
            return instance, fault.process or process
        if target == "consul_leader":
            leader = getattr(self.lab, "consul_leader", None)
            if leader is None:
                raise RuntimeError("this target cannot tell the Consul leader (the lab can)")
            return str(leader()), fault.process
        if target in DEFAULT_PROCESS:
            serving = access.serving(self.lab.deployment)
            if not serving:
                raise RuntimeError("no proxy is serving: cannot tell the active proxy or the master MySQL")
            if target == "master_mysql":
                backend = access.active_backend(self.lab.deployment, serving[0])
                if backend is None:
                    raise RuntimeError(f"{serving[0]} has no active backend")
                instance = backend
            else:
                instance = serving[0]
            return instance, fault.process or DEFAULT_PROCESS[target]
        return target, fault.process

    def _execute(self, fault: Fault, *, late: bool) -> None:
        record = FaultRecord(fault.id, fault.action, "", fault.process, fault.when, t=self.clock(),
                             monotonic=time.monotonic(), late=late)
        started = time.monotonic()
        try:
            if fault.action == "rolling_deploy":
                record.instance = ",".join(fault.groups) or "all groups"
                report = self.deploy(self.lab, groups=list(fault.groups) or None, log=self.log,
                                     downtime_seconds=fault.downtime_seconds)
                record.ok = report.ok
                record.detail = report.error or f"updated {report.updated}"
            elif fault.action in ("partition", "heal"):
                record.instance, record.detail = self._network(fault)
                record.ok = True
            else:
                instance, process = self._resolve(fault)
                record.instance, record.process = instance, process
                self._resolved[fault.id] = (instance, process)
                getattr(self.lab, fault.action)(instance, process)
                record.ok = True
                record.detail = f"{fault.action} {instance}" + (f" {process}" if process else "")
        except Exception as exc:
            record.detail = f"{type(exc).__name__}: {exc}"
        record.seconds = time.monotonic() - started
        self.records.append(record)
        self.log(f"fault {fault.id}: {record.detail} ({'ok' if record.ok else 'FAILED'}, {record.seconds:.1f}s"
                 f"{', late' if late else ''})")

    def _names(self, items: str | tuple[str, ...]) -> list[str]:
        """Instance (or instance-group) names, with the targets' aliases and earlier faults' ids resolved."""
        names = items.split(",") if isinstance(items, str) else items
        return [self._resolve(Fault(id="", action="partition", target=n.strip()))[0] for n in names if n.strip()]

    def _network(self, fault: Fault) -> tuple[str, str]:
        """Put a partition in force, or heal; (instances cut off, what was done)."""
        action = getattr(self.lab, fault.action, None)
        if action is None:
            raise RuntimeError(f"this target cannot {fault.action} (the lab can)")
        if fault.action == "heal":
            healed = action()
            return "", "heal: " + ("; ".join(c.describe() for c in healed) or "nothing was cut")
        cut = action(self._names(fault.target), self._names(fault.cut_from) or REST)
        self._resolved[fault.id] = (",".join(cut.a), None)
        return ",".join(cut.a), f"partition {cut.describe()}"

    def not_serving_windows(self) -> dict[str, list[tuple[float, float]]]:
        """Per proxy instance, monotonic windows during which we had killed or paused it."""
        windows: dict[str, list[tuple[float, float]]] = {}
        opened: dict[str, float] = {}
        for r in self.records:
            if not r.instance.startswith("proxy"):
                continue
            if r.action in ("kill", "stop", "pause"):
                opened.setdefault(r.instance, r.monotonic)
            elif r.action in ("start", "resume") and r.instance in opened:
                windows.setdefault(r.instance, []).append((opened.pop(r.instance), r.monotonic + r.seconds))
        for inst, t in opened.items():
            windows.setdefault(inst, []).append((t, float("inf")))
        return windows
