"""The relay's own lease check: pure, with a controllable clock (no event loop needed)."""

from __future__ import annotations

from cf_mysql_consul.proxy.relay import Relay


def test_lease_valid_until_the_deadline_then_expiry_is_reported_at_once() -> None:
    relay = Relay(instance_name="proxy/0", max_connections=10)
    now = [100.0]
    expired: list[float] = []
    relay.clock = lambda: now[0]
    relay.on_lease_expired = lambda: expired.append(now[0])
    relay.lease_deadline = 101.0
    assert relay.lease_valid()
    now[0] = 100.999
    assert relay.lease_valid() and expired == []
    now[0] = 101.0
    assert not relay.lease_valid()
    assert expired == [101.0]  # the controller is told on the spot, not at its next timer


def test_no_lease_means_no_deadline() -> None:
    relay = Relay(instance_name="proxy/0", max_connections=10)
    relay.clock = lambda: 1e12
    relay.on_lease_expired = lambda: (_ for _ in ()).throw(AssertionError("must not be called"))
    assert relay.lease_valid()
