"""The one proxy API client against a real proxy process: its calls, and its failure contract
(ApiGone: nothing listens; ApiRefused: an HTTP error with its status; ApiError: anything else,
e.g. a hung proxy), as consul-lock's adapter turns it into ProxyGone / ProxyDraining / ProxyError."""

from __future__ import annotations

import signal
import time

import pytest

from cf_mysql_consul.consul_lock.config import ProxyEndpoint as LinkedProxy
from cf_mysql_consul.consul_lock.decide import ProxyState
from cf_mysql_consul.consul_lock.proxy_adapter import ProxyControl, ProxyDraining, ProxyError, ProxyGone
from cf_mysql_consul.proxy.client import ApiError, ApiGone, ApiRefused, ProxyClient, ProxyEndpoint

from .conftest import API_PASSWORD, API_USER, DB_HOSTS, PROXY_HOST, Proxy, ProxyFactory, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def standby(start_proxy: ProxyFactory) -> Proxy:
    """A proxy that does not serve, whose only backend has nothing listening."""
    return start_proxy([{"name": "mysql/0", "host": DB_HOSTS[0], "port": free_port(DB_HOSTS[0])}],
                       start_enabled=False)


def client_of(proxy: Proxy, *, password: str = API_PASSWORD, timeout: float = 2.0) -> ProxyClient:
    c = proxy.config
    return ProxyClient(ProxyEndpoint(c["bind_address"], API_USER, password, c["api_port"], c["health_port"]),
                       timeout=timeout)


def control_of(proxy: Proxy) -> ProxyControl:
    c = proxy.config
    return ProxyControl(LinkedProxy(c["bind_address"], c["port"], c["api_port"], c["health_port"], API_USER,
                                    API_PASSWORD), timeout=1.0)


def test_calls_read_and_change_the_proxy(standby: Proxy) -> None:
    api = client_of(standby)
    assert api.live() and api.health_status() == 503
    assert api.cluster()["trafficEnabled"] is False
    assert [b["name"] for b in api.backends()] == ["mysql/0"]
    answer = api.set_traffic(True, "client test", leaseSeconds=30)
    assert answer["trafficEnabled"] is True and answer["message"] == "client test"
    assert "cf_mysql_proxy_serving 1" in api.metrics()
    assert api.drain("client test drains")["draining"] is True


def test_a_draining_proxy_refuses_traffic_with_409(standby: Proxy) -> None:
    api = client_of(standby)
    api.drain()
    with pytest.raises(ApiRefused) as err:
        api.set_traffic(True, "too late")
    assert err.value.status == 409
    with pytest.raises(ProxyDraining):
        control_of(standby).enable(lease_seconds=2, lease_until=time.monotonic() + 2, message="too late")


def test_wrong_credentials_are_refused_not_gone(standby: Proxy) -> None:
    with pytest.raises(ApiRefused) as err:
        client_of(standby, password="wrong").cluster()
    assert err.value.status == 401


def test_an_answer_that_is_not_json_is_an_api_error(standby: Proxy) -> None:
    with pytest.raises(ApiError, match="not JSON") as err:
        client_of(standby).request("GET", "/")  # the dashboard page
    assert not isinstance(err.value, (ApiGone, ApiRefused))


def test_nothing_listening_is_gone() -> None:
    port = free_port(PROXY_HOST)
    api = ProxyClient(ProxyEndpoint(PROXY_HOST, API_USER, API_PASSWORD, port, port))
    with pytest.raises(ApiGone):
        api.cluster()
    assert not api.live() and api.health_status() is None
    control = ProxyControl(LinkedProxy(PROXY_HOST, 3306, port, port, API_USER, API_PASSWORD), timeout=1.0)
    with pytest.raises(ProxyGone):
        control.cluster()
    assert control.state()[0] == ProxyState.GONE


def test_a_hung_proxy_is_an_api_error_within_the_timeout(standby: Proxy) -> None:
    standby.process.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(ApiError) as err:
            client_of(standby, timeout=0.5).cluster()
        assert not isinstance(err.value, (ApiGone, ApiRefused))
        state, detail, _ = control_of(standby).state()
        assert state == ProxyState.UNREACHABLE, detail
        with pytest.raises(ProxyError) as lock_err:
            control_of(standby).disable("hung")
        assert not isinstance(lock_err.value, (ProxyGone, ProxyDraining))
    finally:
        standby.process.send_signal(signal.SIGCONT)

