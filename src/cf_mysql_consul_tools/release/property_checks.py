"""The properties a manifest gives a job: names the job does not declare, and values out of the
plausible range.

BOSH hands a job only the properties its spec declares and drops the rest without a word, so a
typo (``healthcheck_intervall_millis``) leaves the default in force: :func:`unknown_properties`
finds every name the spec does not know and suggests the closest one it does. A value a job
accepts may still be far from anything that works well (a 10-minute health check timeout):
:data:`PLAUSIBLE` gives, per job and property, the range the release was designed and measured
for and why, and :func:`implausible` lists the values outside it. What a job cannot work with at
all is refused by the job's own config check (:mod:`.start_checks`), not here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cf_mysql_consul_tools.bosh.jobspec import JobSpec


@dataclass(frozen=True, slots=True)
class Plausible:
    """The range a property's value should stay in (inclusive), its unit, and why."""

    low: float
    high: float
    unit: str
    why: str


_FAILOVER = "a hung or dead backend is noticed only after interval + timeout, and failover waits that long"
PLAUSIBLE: dict[str, dict[str, Plausible]] = {
    "proxy": {
        "healthcheck_interval_millis": Plausible(50, 10_000, "ms", _FAILOVER),
        "healthcheck_timeout_millis": Plausible(100, 10_000, "ms", f"{_FAILOVER}; below 100 ms a healthy node "
                                                "under load fails its checks"),
        "healthcheck_rise": Plausible(1, 10, "checks", "a recovered backend waits rise x interval before it "
                                      "counts as healthy again"),
        "healthcheck_fall": Plausible(1, 10, "checks", f"every extra failed check adds to failover: {_FAILOVER}"),
        "startup_delay": Plausible(0, 60, "s", "a started proxy serves no traffic for this long"),
        "post_start_timeout_seconds": Plausible(10, 600, "s", "a proxy whose API does not answer within seconds "
                                                "will not answer later; the deploy just waits longer"),
    },
    "consul-lock": {
        "session_ttl_seconds": Plausible(10, 300, "s", "when neither the heartbeat nor serfHealth catches a failed "
                                         "holder, its key is held this long (Consul may wait twice as long)"),
        "lock_delay_seconds": Plausible(1, 15, "s", "nobody may take the key for this long after a holder fails, "
                                        "so every unplanned failover takes at least this long"),
        "lease_seconds": Plausible(0.5, 10, "s", "a holder that stops renewing keeps serving this long"),
        "renew_interval_seconds": Plausible(0.1, 2, "s", "one cycle of heartbeat, renewal and lease; a slow cycle "
                                            "needs long leases and a long lock delay"),
        "heartbeat_ttl_seconds": Plausible(1, 30, "s", "when no standby unseats it, a killed or hung "
                                           "consul-lock keeps the key this long plus the lock delay"),
        "consul_timeout_seconds": Plausible(0.2, 5, "s", "a local agent answers in milliseconds; the lock delay "
                                            "must cover this timeout"),
        "proxy_timeout_seconds": Plausible(0.1, 5, "s", "the colocated proxy answers in milliseconds; the lock "
                                           "delay must cover this timeout"),
        "failsafe_ttl_seconds": Plausible(1, 30, "s", "a peer that promised not to take over waits this long"),
        "peer_timeout_seconds": Plausible(0.1, 5, "s", "one peer that does not answer in time ends failsafe "
                                          "serving"),
        "drain_timeout_seconds": Plausible(1, 120, "s", "a hand-over takes about one cycle; BOSH waits this long "
                                           "on every proxy stop"),
    },
    "galera-drain": {
        "galera_drain.max_wait_seconds": Plausible(30, 7200, "s", "BOSH has no drain timeout: a deploy may wait "
                                                   "this long for every MySQL node"),
        "galera_drain.quiet_seconds": Plausible(1, 300, "s", "under steady load a node never stays quiet for long"),
        "galera_drain.poll_seconds": Plausible(1, 60, "s", "the node stops up to this long after the load eased"),
        "galera_drain.post_start.timeout_seconds": Plausible(60, 86_400, "s", "it must cover the slowest SST, and "
                                                             "a failed rejoin blocks the deploy this long"),
        "galera_drain.pre_start.timeout_seconds": Plausible(60, 86_400, "s", "it must cover the slowest SST"),
        "galera_drain.switchover.idle_wait_seconds": Plausible(0, 60, "s", "every drain of the active node waits "
                                                               "up to this long for an idle moment"),
    },
    "benchmark-bbs": {
        "benchmark-bbs.cycle_seconds": Plausible(1, 300, "s", "benchmark-bbs itself uses 30 s cycles"),
        "benchmark-bbs.error_tolerance": Plausible(0, 0.5, "", "an errand that tolerates more errors than it "
                                                   "serves measures nothing"),
    },
}


def _names_and_groups(declared: Iterable[str]) -> tuple[set[str], set[str]]:
    """Declared dotted names, and every leading part of one (``galera_drain``, ``galera_drain.mysql``)."""
    names = set(declared)
    groups = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1)}
    return names, groups


def unknown_properties(spec: JobSpec, properties: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """Every property name in ``properties`` (a manifest's, nested) that ``spec`` does not declare,
    with the closest declared name (or group of names) at the same level, if one is close."""
    names, groups = _names_and_groups(spec.properties)
    found: list[tuple[str, str | None]] = []

    def walk(node: Mapping[Any, Any], prefix: str) -> None:
        siblings = sorted({n.removeprefix(prefix) for n in names | groups
                           if n.startswith(prefix) and "." not in n.removeprefix(prefix)})
        for key, value in node.items():
            name = f"{prefix}{key}"
            if name in names:
                continue
            if name in groups and isinstance(value, Mapping):
                walk(value, f"{name}.")
                continue
            close = difflib.get_close_matches(str(key), siblings, n=1, cutoff=0.75)
            found.append((name, f"{prefix}{close[0]}" if close else None))

    walk(properties, "")
    return found


def implausible(spec: JobSpec, properties: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, what is wrong) for every numeric property whose value is outside its :data:`PLAUSIBLE` range."""
    out = []
    for name, rule in sorted(PLAUSIBLE.get(spec.name, {}).items()):
        value = spec.value(dict(properties), name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or rule.low <= value <= rule.high:
            continue
        unit = f" {rule.unit}" if rule.unit else ""
        out.append((name, f"property '{name}' is {value:g}{unit}, outside the plausible "
                          f"{rule.low:g}-{rule.high:g}{unit}: {rule.why}"))
    return out
