"""consul-lock on the shared real lab (Consul 1.8.7, two proxies, Galera): election, faults, drain.

Every fault test ends with the audit of the proxies' own traffic events (the ground truth of
serving): no two proxies may have been enabled at the same instant. Windows in which the test
itself made a proxy unable to serve (SIGKILL until restart, SIGSTOP until SIGCONT) are passed to
the audit explicitly. Timings are printed, never asserted (the machine is shared and noisy),
except the safety bound of the Consul-outage test, which is arithmetic from the job's timing.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from cf_mysql_consul.consul_lock.timing import CYCLE_CONSUL_CALLS, Timing
from cf_mysql_consul.proxy.events import read_events
from cf_mysql_consul_tools import access
from cf_mysql_consul_tools.lab import Lab
from cf_mysql_consul_tools.lab import lock_checks as lc
from cf_mysql_consul_tools.lab.waiting import wait_until
from cf_mysql_consul_tools.serving import LOCK_AUDIT, PROXY_EVENTS

pytestmark = pytest.mark.integration
T = Timing()


def stays_standby(lab: Lab, name: str, seconds: float) -> None:
    """Observe ``name`` for ``seconds``: its traffic must stay off (an observation window, not a wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert name not in access.serving(lab.deployment), f"{name} serves again without winning the lock"
        time.sleep(0.1)


def activations(lab: Lab, name: str, since: float) -> list[dict[str, object]]:
    """consul-lock ``activate`` entries of ``name`` after ``since``."""
    entries = read_events(lab.instance_dir(lab.instance(name)) / LOCK_AUDIT)
    return [e for e in entries if e.get("event") == "activate" and float(str(e["monotonic"])) > since]


def test_steady_state_one_active_proxy_and_dns_returns_only_it(lab: Lab) -> None:
    active, standby = lc.wait_ready(lab)
    address = lab.instance(active).address
    for via in (active, standby):
        wait_until(lambda v=via: lc.resolve(lab, v) == [address], timeout=30,
                   what=f"mysql.service.consul on {via}'s agent to list only {address}",
                   describe=lambda v=via: str(lc.resolve(lab, v)))
    assert access.serving(lab.deployment) == [active]
    assert lc.write_through_dns(lab, standby) == address
    key_url = f"{lab.consul_url(standby)}/v1/kv/service/mysql/leader?raw"
    value = requests.get(key_url, timeout=2).json()
    assert value["proxy"] == active and value["address"] == address
    # The holder records its LockIndex right after it takes over, and again at the next lease
    # renewal if that write failed: poll.
    wait_until(lambda: requests.get(key_url, timeout=2).json()["lock_index"]
               == lc.lock_state(lab, active)["lock_index"],
               timeout=5, what="the key's value to record the holder's LockIndex")
    # The key records the backend at each lease renewal (1 s): poll until it has caught up with
    # a switch that an earlier test may have caused.
    wait_until(
        lambda: requests.get(key_url, timeout=2).json()["backend"]
        == (access.proxy_cluster(lab.deployment, active) or {})["activeBackend"]["name"],
        timeout=15, what="the key's value to name the proxy's active backend",
    )


@pytest.mark.parametrize("process", ["proxy.proxy", "consul-lock.consul-lock", "consul_agent.consul"])
def test_sigkill_on_the_active_instance_hands_over(lab: Lab, process: str) -> None:
    old, new = lc.wait_ready(lab)
    backend = lc.lock_state(lab, old)["backend"]
    t0 = time.monotonic()
    lab.kill(old, process)
    assert lc.wait_one_active(lab, other_than=old, timeout=60) == new
    took = time.monotonic() - t0
    stays_standby(lab, old, 3)
    assert not activations(lab, old, t0), "the old instance activated again without winning the lock"
    assert (access.proxy_cluster(lab.deployment, new) or {})["activeBackend"]["name"] == backend  # the same Galera node
    report = lc.audit_lab(lab, since=t0 - 1)  # a killed proxy's interval ends where consul-lock found it gone
    assert report.ok, report.describe()
    print(f"SIGKILL {process}: {new} active after {took:.2f} s")


def test_paused_instance_hands_over_and_never_serves_again_without_the_lock(lab: Lab) -> None:
    old, new = lc.wait_ready(lab)
    t0 = time.monotonic()
    lab.pause(old)  # proxy, consul-lock and the Consul agent: a hung VM
    assert lc.wait_one_active(lab, other_than=old, timeout=60) == new
    took = time.monotonic() - t0
    time.sleep(max(0.0, 30 - (time.monotonic() - t0)))  # the fault's length, not a synchronisation
    lab.resume(old)
    wait_until(lambda: str(lc.lock_state(lab, old).get("reason", "")).startswith("standby"), timeout=60,
               what=f"{old}'s consul-lock to notice it lost the lock", describe=lambda: str(lc.lock_state(lab, old)))
    stays_standby(lab, old, 2)
    assert not activations(lab, old, t0)
    # The old proxy's lease ran out during the pause; it logs that only after SIGCONT, with the
    # lease's deadline (its relay refused every byte past it), so no window is excused.
    report = lc.audit_lab(lab, since=t0 - 1)
    assert report.ok, report.describe()
    print(f"pause: {new} active after {took:.2f} s")


def test_a_hung_lock_job_is_unseated_once_its_last_lease_has_run_out(lab: Lab) -> None:
    """Rule 5 of the timing, at its sharpest: the holder's consul-lock hangs while its proxy runs on,
    serving until the lease anchored at the last proof write runs out. The standby releases the
    hung holder's session from the key (no lock-delay) once no lease of it can remain, before the
    heartbeat check would have gone critical and the lock-delay run out; the proxies' own traffic
    events must never overlap."""
    old, new = lc.wait_ready(lab)
    t0 = time.monotonic()
    lab.pause(old, "consul-lock")
    try:
        assert lc.wait_one_active(lab, other_than=old, timeout=60) == new
        took = time.monotonic() - t0
    finally:
        lab.resume(old, "consul-lock")
    entries = read_events(lab.instance_dir(lab.instance(new)) / LOCK_AUDIT)
    unseats = [e for e in entries if e.get("event") == "unseat" and float(str(e["monotonic"])) > t0]
    assert unseats and old in str(unseats[0]["reason"]), f"{new} took over without unseating {old}: {entries[-5:]}"
    wait_until(lambda: str(lc.lock_state(lab, old).get("reason", "")).startswith("standby"), timeout=30,
               what=f"{old}'s consul-lock to notice it lost the lock", describe=lambda: str(lc.lock_state(lab, old)))
    stays_standby(lab, old, 2)
    report = lc.audit_lab(lab, since=t0 - 1)
    assert report.ok, report.describe()
    print(f"consul-lock hung on {old}: {new} unseated it and was active after {took:.2f} s "
          f"(heartbeat TTL + lock-delay: {T.heartbeat_ttl_seconds + T.lock_delay_seconds:g} s)")


def test_a_restarted_lock_job_turns_its_proxy_off_and_releases_its_predecessors_key(lab: Lab) -> None:
    """consul-lock killed on the holder and restarted at once (as BPM does): the new process turns
    the proxy off, then releases the key its previous process held (a release starts no lock-delay),
    so the standby takes over without waiting for the old session to be unseated or to expire."""
    old, new = lc.wait_ready(lab)
    t0 = time.monotonic()
    lab.kill(old, "consul-lock")
    lab.start(old, "consul-lock")
    assert lc.wait_one_active(lab, other_than=old, timeout=60) == new
    took = time.monotonic() - t0
    entries = read_events(lab.instance_dir(lab.instance(old)) / LOCK_AUDIT)
    released = [e for e in entries if e.get("event") == "release" and float(str(e["monotonic"])) > t0]
    assert released and "previous process" in str(released[0]["reason"]), entries[-5:]
    report = lc.audit_lab(lab, since=t0 - 1)
    assert report.ok, report.describe()
    print(f"consul-lock restarted on {old}: it released the key; {new} active after {took:.2f} s")


def test_graceful_drain_hands_over_without_overlap(lab: Lab) -> None:
    old, new = lc.wait_ready(lab)
    results: list[tuple[float, str | None]] = []
    stop = threading.Event()

    def client() -> None:  # new connections through DNS, as an application would open them
        while not stop.is_set():
            results.append((time.monotonic(), lc.write_through_dns(lab, new, timeout=0.5)))
            time.sleep(0.02)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    wait_until(lambda: any(r[1] for r in results), timeout=30, what="the client's first write")
    t0 = time.monotonic()
    outputs = lc.run_drains(lab, old)
    assert outputs == {"proxy": "0", "consul-lock": "0"}
    assert lc.wait_one_active(lab, other_than=old, timeout=30) == new
    new_address = lab.instance(new).address
    wait_until(lambda: any(at > t0 and via == new_address for at, via in results), timeout=30,
               what="a write through the new active proxy")
    first_new = min(at for at, via in results if at > t0 and via == new_address)
    observe_until = time.monotonic() + 2
    wait_until(lambda: time.monotonic() > observe_until, timeout=5, what="two more seconds of client writes")
    stop.set()
    thread.join(timeout=10)
    failed_after = [at for at, via in results if at > first_new and via is None]
    assert not failed_after, f"{len(failed_after)} new connections failed after the handover"
    report = lc.audit_lab(lab, since=t0 - 1)
    assert report.ok, report.describe()
    gap = next(i for i in report.proxy_intervals if i.instance == new).start - max(
        i.end for i in report.proxy_intervals if i.instance == old)
    print(f"drain: both drains in {time.monotonic() - t0:.2f} s; no proxy enabled for {gap * 1000:.0f} ms; "
          f"first write through {new} {first_new - t0:.2f} s after the drain started")
    lab.stop(old, "consul-lock")  # what BOSH does after drain; the next test's lab starts them again
    lab.stop(old, "proxy")


def consul_servers(lab: Lab) -> list[str]:
    """The instances that run a Consul server."""
    return [i.name for i in lab.deployment.with_job("consul_agent")
            if ((i.job("consul_agent").properties.get("consul") or {}).get("agent") or {}).get("mode") == "server"]


def start_servers(lab: Lab, servers: list[str]) -> None:
    """Start every Consul server, then wait for a leader (one server alone has no quorum)."""
    for server in servers:
        lab.start(server, wait_consul=False)
    for server in servers:
        lab.wait_consul_agent(server)


def watch_serving(lab: Lab, seconds: float) -> set[str]:
    """Poll every proxy for ``seconds`` (an observation window); every proxy seen serving, asserting never two."""
    seen: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        on = access.serving(lab.deployment)
        assert len(on) <= 1, f"two proxies serve at once: {on}"
        seen.update(on)
        time.sleep(0.1)
    return seen


def test_consul_servers_down_the_holder_keeps_serving_on_its_peers_promises(lab: Lab) -> None:
    """Availability with the same safety: no Consul server answers, the holder cannot prove it holds
    the lock, but every peer promises not to take over, so it keeps serving; nobody else does. Once
    the servers are back, the lock is proven through Consul again and every consul-lock is armed."""
    old, standby = lc.wait_ready(lab)
    servers = consul_servers(lab)
    t0 = time.monotonic()
    for server in servers:
        lab.kill(server)
    wait_until(lambda: lc.lock_state(lab, old).get("failsafe"), timeout=10, what=f"{old} to serve in failsafe",
               describe=lambda: str(lc.lock_state(lab, old)))
    wait_until(lambda: lc.lock_state(lab, standby).get("promised_to") == old, timeout=10,
               what=f"{standby} to report its promise to {old}", describe=lambda: str(lc.lock_state(lab, standby)))
    assert watch_serving(lab, 15) == {old}  # served throughout, alone
    assert lc.write_to(lab, old) is not None
    start_servers(lab, servers)
    back = time.monotonic()
    wait_until(lambda: all(lc.lock_state(lab, n).get("armed") for n in lc.proxies(lab))
               and not lc.lock_state(lab, old).get("failsafe"), timeout=30,
               what="the lock proven through Consul again and every consul-lock armed",
               describe=lambda: str({n: lc.lock_state(lab, n).get("reason") for n in lc.proxies(lab)}))
    print(f"Consul servers down for {back - t0:.1f} s: {old} served throughout on its peers' promises; "
          f"every consul-lock armed {time.monotonic() - back:.2f} s after the servers came back")
    # Known gap, not yet closed: servers restarted all at once may invalidate the holder's session
    # after it was proven again (it then stops, and a proxy serves again after the lock-delay). So
    # here: never two serving, and one serving again within the session TTL plus the lock-delay.
    seen = watch_serving(lab, 5)
    wait_until(lambda: len(access.serving(lab.deployment, timeout=5)) == 1,
               timeout=T.session_ttl_seconds + T.lock_delay_seconds + 10, what="one proxy serving")
    print(f"served after the servers came back: {sorted(seen)}")
    report = lc.audit_lab(lab, since=t0 - 1)
    assert report.ok, report.describe()


def test_consul_servers_down_and_a_silent_peer_the_holder_stops_within_its_lease(lab: Lab) -> None:
    """Safety over availability: with no Consul server AND a peer that cannot promise (its consul-lock
    hung), the holder cannot rule out a takeover and stops serving within the bound of its last lease."""
    old, standby = lc.wait_ready(lab)
    servers = consul_servers(lab)
    bound = T.renew_interval_seconds + CYCLE_CONSUL_CALLS * T.consul_timeout_seconds + T.proxy_timeout_seconds \
        + T.lease_seconds
    lab.pause(standby, "consul-lock")
    t0 = time.monotonic()
    try:
        for server in servers:
            lab.kill(server)
        wait_until(lambda: not access.serving(lab.deployment), timeout=bound + 30, what="the holder to stop serving")
    finally:
        lab.resume(standby, "consul-lock")
        start_servers(lab, servers)
    events = read_events(lab.instance_dir(lab.instance(old)) / PROXY_EVENTS)
    off = min(float(e["monotonic"]) for e in events
              if e.get("event") == "traffic" and not e.get("enabled") and float(e["monotonic"]) > t0)
    back = lc.wait_one_active(lab, timeout=120)
    report = lc.audit_lab(lab, since=t0 - 1)
    assert report.ok, report.describe()
    print(f"Consul servers down and {standby} silent: {old} stopped serving {off - t0:.2f} s after the kill "
          f"(bound {bound:g} s); {back} active again after the servers came back")
    assert off - t0 <= bound + 1.0, f"served {off - t0:.2f} s into the outage, bound {bound:g} s"


def test_service_health_set_at_registration_reaches_dns_before_the_check_runs(lab: Lab) -> None:
    """consul-lock sets its service's /health check at each activation and deactivation instead of
    waiting for the check's next run. On the real Consul 1.8.7: a service whose HTTP check would
    fail (nothing listens on its URL) and runs only every 60 s is in DNS at once when registered
    passing, and out of it at once when registered critical."""
    from cf_mysql_consul.consul_lock.consul_adapter import ConsulLock

    agent = lab.instance("proxy/0")
    consul = ConsulLock(agent.address, 8500, timeout=2)
    name, service_id = "announce-test", "announce-test-0"
    dead_url = f"http://{agent.address}:1/health"  # nothing listens: the check itself says critical
    try:
        for status, expected in (("passing", [agent.address]), ("critical", []), ("passing", [agent.address])):
            consul.register_service(service_id=service_id, service_name=name, address=agent.address, port=3306,
                                    health_url=dead_url, interval=60, status=status)
            wait_until(lambda e=expected: lc.resolve(lab, "arbitrator/0", name) == e, timeout=3, interval=0.05,
                       what=f"DNS to follow the registered status {status}")
    finally:
        consul.client.agent.service.deregister(service_id)


def test_holder_cut_off_from_the_consul_servers_only_keeps_serving_and_rearms_after_the_heal(
        lab: Lab) -> None:
    """The holder's instance loses the Consul servers but still gossips with the other agents and
    reaches its peer: it serves on, alone, and DNS keeps naming it. After the heal every consul-lock
    is armed again within seconds (a check update that failed to sync is registered anew)."""
    old, standby = lc.wait_ready(lab)
    servers = consul_servers(lab)
    t0 = time.monotonic()
    lab.partition([old], servers)
    try:
        wait_until(lambda: lc.lock_state(lab, old).get("failsafe"), timeout=15, what=f"{old} to serve in failsafe",
                   describe=lambda: str(lc.lock_state(lab, old)))
        assert watch_serving(lab, 15) == {old}
        assert lc.write_through_dns(lab, standby) == lab.instance(old).address
    finally:
        lab.heal()
    healed = time.monotonic()
    wait_until(lambda: all(lc.lock_state(lab, n).get("armed") for n in lc.proxies(lab)), timeout=30,
               what="every consul-lock armed",
               describe=lambda: str({n: lc.lock_state(lab, n) for n in lc.proxies(lab)}))
    armed_after = time.monotonic() - healed
    # The holder's agent reaches the servers again at its stale TCP connection's next retransmission
    # (exponential backoff during the black hole): only then is the lock proven through Consul again.
    wait_until(lambda: not lc.lock_state(lab, old).get("failsafe"), timeout=60,
               what="the lock proven through Consul again", describe=lambda: str(lc.lock_state(lab, old)))
    print(f"{old} cut off from the Consul servers for {healed - t0:.1f} s: served throughout; every consul-lock "
          f"armed {armed_after:.2f} s after the heal; the lock proven through Consul again after "
          f"{time.monotonic() - healed:.2f} s")
    assert access.serving(lab.deployment, timeout=5) == [old]  # a late answer on a loaded machine is not "off"
    report = lc.audit_lab(lab, since=t0 - 1)
    assert report.ok, report.describe()
