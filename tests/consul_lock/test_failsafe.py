"""The failsafe exchange between consul-lock peers, over real sockets: promises, refusals, silence."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cf_mysql_consul.consul_lock.failsafe import Peer, PeerClient, Promises
from cf_mysql_consul.consul_lock.metrics import LockMetrics
from cf_mysql_consul.consul_lock.peer_api import PeerApi

ADDRESS = "127.0.0.1"
CREDENTIALS = {"username": "consul-lock", "password": "peer-pw"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return int(s.getsockname()[1])


class FakeStandby:
    """A peer's state as its daemon would report it (the one thing a real daemon cannot be put in on demand)."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self.active = False
        self.promises = Promises(str(tmp_path / f"{name}.json"), ttl=3)
        metrics = LockMetrics()
        self.port = free_port()
        self.api = PeerApi(ADDRESS, self.port, **CREDENTIALS, answer=self.answer, ttl=3, metrics=metrics.render)

    def answer(self, holder: str, lock_index: int | None) -> str | None:
        return self.promises.give(holder, lambda: "this consul-lock is active" if self.active else None)


@pytest.fixture
def standbys(tmp_path: Path) -> Iterator[list[FakeStandby]]:
    peers = [FakeStandby(tmp_path, "proxy-1"), FakeStandby(tmp_path, "proxy-2")]
    for p in peers:
        p.api.start()
    yield peers
    for p in peers:
        p.api.stop()


def client(peers: list[Peer], password: str = "peer-pw") -> PeerClient:
    return PeerClient(tuple(peers), username="consul-lock", password=password, timeout=0.5)


def test_every_peer_promises_and_keeps_the_promise_for_its_ttl(standbys: list[FakeStandby]) -> None:
    peers = [Peer(f"proxy/{i + 1}", ADDRESS, s.port) for i, s in enumerate(standbys)]
    before = time.monotonic()
    round_ = client(peers).ask(holder="proxy/0", lock_index=7)
    assert round_.ok and round_.describe() == "every peer promised not to take over"
    assert before <= round_.sent
    for s in standbys:
        assert s.promises.holder == "proxy/0" and s.promises.active(time.monotonic())
        assert s.promises.until is not None and s.promises.until >= round_.sent + 3


def test_one_refusal_or_one_silent_peer_fails_the_round(standbys: list[FakeStandby]) -> None:
    standbys[1].active = True
    silent = Peer("proxy/3", ADDRESS, free_port())  # nothing listens there
    peers = [Peer("proxy/1", ADDRESS, standbys[0].port), Peer("proxy/2", ADDRESS, standbys[1].port), silent]
    round_ = client(peers).ask(holder="proxy/0", lock_index=7)
    assert not round_.ok
    assert round_.refusals["proxy/2"] == "this consul-lock is active"
    assert round_.refusals["proxy/3"].startswith("unreachable")
    assert "proxy/1" not in round_.refusals


def test_wrong_credentials_are_refused(standbys: list[FakeStandby]) -> None:
    round_ = client([Peer("proxy/1", ADDRESS, standbys[0].port)], password="wrong").ask(holder="x", lock_index=None)
    assert round_.refusals["proxy/1"] == "HTTP 401"
    assert standbys[0].promises.until is None


def test_a_restarted_peer_keeps_the_promise_it_gave(tmp_path: Path) -> None:
    path = str(tmp_path / "promise.json")
    first = Promises(path, ttl=3)
    assert first.give("proxy/0", lambda: None) is None
    again = Promises(path, ttl=3)
    assert again.holder == "proxy/0" and again.active(time.monotonic())
    assert again.until == first.until


def test_metrics_are_served_without_auth(standbys: list[FakeStandby]) -> None:
    text = requests.get(f"http://{ADDRESS}:{standbys[0].port}/metrics", timeout=2).text
    assert "cf_mysql_consul_lock_active" in text and "cf_mysql_consul_lock_failsafe_rounds_total" in text
