"""Traffic state: enable/disable, leases that expire unless renewed, draining."""

from __future__ import annotations

import pytest

from cf_mysql_consul.proxy import traffic
from cf_mysql_consul.proxy.traffic import TrafficError


def test_initial_states() -> None:
    assert traffic.initial(start_enabled=True).enabled
    assert not traffic.initial(start_enabled=False).enabled


def test_lease_expires_without_renewal() -> None:
    state = traffic.request(
        traffic.initial(start_enabled=False), 100.0, enabled=True, message="lock held", lease_seconds=2.0
    )
    assert traffic.evaluate(state, 101.9).enabled
    expired = traffic.evaluate(state, 102.0)
    assert not expired.enabled
    assert "lease of 2 s expired" in expired.message and "lock held" in expired.message


def test_lease_renewal_extends() -> None:
    state = traffic.request(traffic.initial(start_enabled=False), 100.0, enabled=True, message=None, lease_seconds=2.0)
    state = traffic.request(state, 101.5, enabled=None, message=None, lease_seconds=2.0)
    assert traffic.evaluate(state, 103.0).enabled
    assert not traffic.evaluate(state, 103.5).enabled


def test_renewal_after_expiry_is_refused() -> None:
    state = traffic.request(traffic.initial(start_enabled=False), 100.0, enabled=True, message=None, lease_seconds=1.0)
    with pytest.raises(TrafficError, match="traffic is disabled"):
        traffic.request(state, 105.0, enabled=None, message=None, lease_seconds=1.0)


def test_enable_without_lease_clears_lease() -> None:
    state = traffic.request(traffic.initial(start_enabled=False), 0.0, enabled=True, message=None, lease_seconds=1.0)
    state = traffic.request(state, 0.5, enabled=True, message="manual", lease_seconds=None)
    assert traffic.evaluate(state, 1000.0).enabled


def test_disable_keeps_message() -> None:
    state = traffic.request(
        traffic.initial(start_enabled=True), 0.0, enabled=False, message="by consul-lock", lease_seconds=None
    )
    assert not state.enabled and state.message == "by consul-lock"


def test_bad_lease_refused() -> None:
    with pytest.raises(TrafficError, match="leaseSeconds"):
        traffic.request(traffic.initial(start_enabled=True), 0.0, enabled=True, message=None, lease_seconds=0)


def test_draining_refuses_enable() -> None:
    state = traffic.drain(traffic.initial(start_enabled=True), "bosh drain")
    assert not state.enabled and state.draining
    with pytest.raises(TrafficError, match="draining"):
        traffic.request(state, 0.0, enabled=True, message=None, lease_seconds=5.0)
    assert traffic.request(state, 0.0, enabled=False, message="x", lease_seconds=None).draining


def test_lease_until_caps_the_lease_and_refuses_a_late_request() -> None:
    start = traffic.initial(start_enabled=False)
    state = traffic.request(start, 100.0, enabled=True, message=None, lease_seconds=5.0, lease_until=101.0)
    assert traffic.evaluate(state, 100.99).enabled and not traffic.evaluate(state, 101.0).enabled
    with pytest.raises(TrafficError, match="arrived after the lease"):
        traffic.request(start, 101.0, enabled=True, message=None, lease_seconds=5.0, lease_until=101.0)
    with pytest.raises(TrafficError, match="same host"):
        traffic.request(start, 100.0, enabled=True, message=None, lease_seconds=5.0, lease_until=1000.0)
    with pytest.raises(TrafficError, match="needs leaseSeconds"):
        traffic.request(start, 100.0, enabled=True, message=None, lease_seconds=None, lease_until=101.0)
