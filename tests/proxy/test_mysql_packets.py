"""The ERR packet sent in place of the greeting decodes with our parser and PyMySQL's."""

from __future__ import annotations

import pymysql
import pytest
from pymysql.err import raise_mysql_exception

from cf_mysql_consul.proxy.mysql_packets import ER_UNKNOWN_ERROR, err_packet, parse_err_packet


def test_round_trip() -> None:
    packet = err_packet(ER_UNKNOWN_ERROR, "proxy/1 is standby: traffic disabled by consul-lock")
    assert packet[3] == 0  # sequence id 0: it stands where the greeting would
    assert parse_err_packet(packet) == (1105, "HY000", "proxy/1 is standby: traffic disabled by consul-lock")


def test_pymysql_parser_reads_code_and_message() -> None:
    packet = err_packet(1040, "too many connections through this proxy")
    with pytest.raises(pymysql.err.OperationalError) as info:
        raise_mysql_exception(packet[4:])
    assert info.value.args == (1040, "too many connections through this proxy")


def test_header_length_matches_payload_and_unicode() -> None:
    packet = err_packet(1105, "naïve ✓")
    assert int.from_bytes(packet[:3], "little") == len(packet) - 4
    assert parse_err_packet(packet)[2] == "naïve ✓"


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="uint16"):
        err_packet(70000, "x")
    with pytest.raises(ValueError, match="sqlstate"):
        err_packet(1105, "x", sqlstate="HY")
    with pytest.raises(ValueError, match="not an ERR packet"):
        parse_err_packet(b"\x01\x00\x00\x00\x0a")
