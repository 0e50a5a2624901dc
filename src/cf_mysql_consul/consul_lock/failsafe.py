"""Failsafe between the consul-lock peers: serving on every peer's promise while Consul cannot prove the lock.

Two sides (rule 4 of ``timing``):
- the holder asks every peer (``PeerClient.ask``) each cycle while it cannot prove through Consul
  that it holds the key; it keeps serving only when every peer accepted a request it sent at
  ``Round.sent``;
- a peer (``Promises.give``) accepts unless it is active, holds the key or is racing for it, and
  then neither races nor enables its proxy for ``failsafe_ttl`` after receiving the request. The
  promise is written to disk before the answer, so a restarted consul-lock keeps it.

Contract of ``PeerClient.ask``: returns within ``peer_timeout`` plus scheduling; a peer that does
not answer in time, answers with an error, or refuses, makes the round fail. It never raises.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import requests

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True, slots=True)
class Peer:
    """Another consul-lock of this deployment (a member of the ``consul-lock`` link)."""

    name: str
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class Round:
    """One request to every peer: sent at monotonic ``sent``; peer -> refusal (absent = accepted)."""

    sent: float
    refusals: dict[str, str]

    @property
    def ok(self) -> bool:
        """Every peer accepted."""
        return not self.refusals

    def describe(self) -> str:
        """``every peer promised`` or who did not, and why."""
        if self.ok:
            return "every peer promised not to take over"
        return "failsafe refused: " + "; ".join(f"{name}: {why}" for name, why in sorted(self.refusals.items()))


class PeerClient:
    """The holder's side: ask every peer at once, each call bounded by ``timeout``."""

    def __init__(self, peers: tuple[Peer, ...], *, username: str, password: str, timeout: float) -> None:
        self.peers = peers
        self.timeout = timeout
        self._auth = (username, password)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(peers)), thread_name_prefix="failsafe")

    def ask(self, *, holder: str, lock_index: int | None) -> Round:
        """Send one failsafe request to every peer and collect the answers."""
        sent = time.monotonic()
        body: dict[str, object] = {"holder": holder, "lockIndex": lock_index}
        futures = {self._pool.submit(self._ask_one, peer, body): peer.name for peer in self.peers}
        done, pending = wait(futures, timeout=self.timeout + 0.1)
        refusals = {futures[f]: "no answer in time" for f in pending}
        for future in done:
            refusal = future.result()
            if refusal is not None:
                refusals[futures[future]] = refusal
        return Round(sent=sent, refusals=refusals)

    def _ask_one(self, peer: Peer, body: dict[str, object]) -> str | None:
        url = f"http://{peer.address}:{peer.port}/v1/failsafe"
        try:
            response = requests.post(url, json=body, auth=self._auth, timeout=self.timeout)
        except requests.RequestException as exc:
            return f"unreachable ({type(exc).__name__})"
        try:
            doc = response.json()
        except ValueError:
            doc = {}
        if response.status_code == 200 and doc.get("accepted") is True:
            return None
        return str(doc.get("reason") or f"HTTP {response.status_code}")


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


class Promises:
    """The peer's side: the promise this job gave (at most one holder at a time), kept on disk.

    ``guard`` is held by the daemon around racing and activating, so a promise is either given
    before an acquire starts (and the acquire is skipped) or after its outcome is known.
    """

    def __init__(self, path: str, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.ttl = ttl
        self.clock = clock
        self.guard = threading.Lock()
        self.until: float | None = None
        self.holder: str | None = None
        self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(Path(self.path).read_text())
        except (OSError, ValueError):
            return
        if isinstance(doc, dict) and doc.get("boot_id") == _boot_id() and isinstance(doc.get("until"), int | float):
            self.until, self.holder = float(doc["until"]), str(doc.get("holder"))

    def active(self, now: float) -> bool:
        """A promise is in force at ``now``."""
        return self.until is not None and now < self.until

    def give(self, holder: str, refusal: Callable[[], str | None]) -> str | None:
        """Promise ``holder`` not to race for ``ttl`` from now, unless ``refusal()`` (called under the
        guard) names a reason; returns that reason, or None when promised."""
        with self.guard:
            why = refusal()
            if why is not None:
                return why
            until = self.clock() + self.ttl
            tmp = f"{self.path}.tmp"
            with open(tmp, "w") as f:
                json.dump({"holder": holder, "until": until, "boot_id": _boot_id()}, f)
            os.replace(tmp, self.path)
            self.until, self.holder = until, holder
            return None
