"""MySQL wire-protocol packets the proxy writes itself (it never parses client traffic).

When the proxy will not relay a new client (traffic disabled, no healthy backend, too many
connections) it sends one ERR packet in place of the server greeting and closes. Clients
(libmysqlclient, MariaDB Connector/C, PyMySQL, go-sql-driver) accept an ERR packet at that
point and show its message, so the operator sees a reason instead of "lost connection".
"""

from __future__ import annotations

import struct

ER_CON_COUNT_ERROR = 1040
"""'Too many connections': what mysqld itself answers past max_connections."""
ER_UNKNOWN_ERROR = 1105
"""Generic server error, used while this proxy does not serve traffic."""

_MAX_PAYLOAD = 0xFFFFFF


def err_packet(code: int, message: str, *, sqlstate: str = "HY000", sequence_id: int = 0) -> bytes:
    """Return one ERR packet (header included) carrying ``code``, ``sqlstate`` and ``message``.

    The payload is ``0xFF, code (uint16 LE), '#', sqlstate (5 chars), message``: the
    protocol-4.1 form that every current client parses; the message is truncated to fit one
    packet. Raises ``ValueError`` for a code outside uint16 or a sqlstate that is not 5 ASCII chars.
    """
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"error code {code} does not fit in uint16")
    state = sqlstate.encode("ascii")
    if len(state) != 5:
        raise ValueError(f"sqlstate must be 5 ASCII characters, got {sqlstate!r}")
    payload = b"\xff" + struct.pack("<H", code) + b"#" + state + message.encode("utf-8", "replace")
    payload = payload[:_MAX_PAYLOAD]
    return struct.pack("<I", len(payload))[:3] + bytes([sequence_id & 0xFF]) + payload


def parse_err_packet(packet: bytes) -> tuple[int, str, str]:
    """Decode an ERR packet (header included) into ``(code, sqlstate, message)``.

    Raises ``ValueError`` when ``packet`` is not one complete ERR packet.
    """
    if len(packet) < 4:
        raise ValueError("packet shorter than its 4-byte header")
    length = int.from_bytes(packet[:3], "little")
    payload = packet[4:]
    if len(payload) != length:
        raise ValueError(f"header says {length} payload bytes, got {len(payload)}")
    if not payload or payload[0] != 0xFF:
        raise ValueError("not an ERR packet (first payload byte is not 0xff)")
    (code,) = struct.unpack("<H", payload[1:3])
    if payload[3:4] == b"#":
        return code, payload[4:9].decode("ascii"), payload[9:].decode("utf-8", "replace")
    return code, "HY000", payload[3:].decode("utf-8", "replace")
