"""Encoded column payloads of the sizes BBS writes.

BBS stores models serialized and encrypted: a 2-character format prefix, then base64 of
nonce + ciphertext + tag. We keep that envelope and those sizes (a benchmark-bbs desired LRP's
run info is about 2 KB, its routes about 1.3 KB, an actual LRP's net info about 100 B) but the
"ciphertext" is the plain JSON, so an operation can decode and compare what it reads, as BBS
compares decoded models before deciding whether a write is needed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

PREFIX = "01"
_NONCE = 12
_TAG = 16


def encode(model: Any) -> str:
    """Serialize ``model`` as JSON inside BBS's envelope."""
    raw = json.dumps(model, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(raw).digest()
    return PREFIX + base64.b64encode(digest[:_NONCE] + raw + digest[-_TAG:]).decode()


def decode(text: str) -> Any:
    """The model ``encode`` wrapped (raises ``ValueError`` on a damaged envelope)."""
    if not text.startswith(PREFIX):
        raise ValueError(f"unknown payload format {text[:2]!r}")
    blob = base64.b64decode(text[len(PREFIX):])
    return json.loads(blob[_NONCE:-_TAG])


def _filler(guid: str, size: int) -> str:
    out = b""
    counter = 0
    while len(out) * 4 // 3 < size:
        out += hashlib.sha256(f"{guid}:{counter}".encode()).digest()
        counter += 1
    return base64.b64encode(out).decode()[:size]


def run_info(guid: str) -> dict[str, Any]:
    """The desired LRP's run info (actions, env, egress rules) of about benchmark-bbs's size."""
    run_action = {"run": {"path": "ls", "user": "name"}}
    return {
        "process_guid": guid,
        "environment_variables": [{"name": "FOO", "value": "bar"}],
        "setup": run_action, "action": run_action,
        "monitor": {"emit_progress": {"action": {"timeout": {"action": {"try": {"action": {"parallel": {
            "actions": [{"serial": {"actions": [run_action]}}]}}}}, "timeout_ms": 10000}},
            "start_message": "start-message", "success_message": "success-message",
            "failure_message": "failure-message"}},
        "start_timeout_ms": 15000, "cpu_weight": 42, "log_source": "some-log-source",
        "metrics_guid": "some-metrics-guid",
        "egress_rules": [{"protocol": "tcp", "destinations": ["1.1.1.1/32", "2.2.2.2/32"],
                          "port_range": {"start": 10, "end": 16000}}],
        "certificate_properties": {"organizational_unit": [_filler(guid + "ou", 900)]},
    }


def routes(guid: str) -> dict[str, Any]:
    """Router and diego-ssh routes; the ssh route carries a host key (about 1.3 KB in all)."""
    return {
        "cf-router": [{"hostnames": ["dora.bosh-lite.com"], "port": 8080}],
        "diego-ssh": {"container_port": 2222, "host_fingerprint": "44:00:2b:21:19:1a:42:ab:54:2f:c3:9d",
                      "private_key": "-----BEGIN RSA PRIVATE KEY-----\n" + _filler(guid, 880)
                      + "\n-----END RSA PRIVATE KEY-----\n"},
    }


def net_info(address: str = "1.2.3.4", instance_address: str = "2.2.2.2") -> dict[str, Any]:
    """An actual LRP's net info as benchmark-bbs starts it (port 61999 -> 8080)."""
    return {"address": address, "instance_address": instance_address, "preferred_address": "HOST",
            "ports": [{"container_port": 8080, "host_port": 61999}]}


EMPTY_NET_INFO: dict[str, Any] = {}
