"""Where new connections go: fixed addresses, a name the VM's own resolver answers, or a name
asked from a Consul agent's DNS interface directly.

Like a Go dialer, every new connection resolves the name again (Consul's DNS answers with a
TTL of 0), so a failover is followed as soon as Consul's view changes. On a VM of a BOSH
deployment the VM's own resolver is the one to use: consul-release's agent serves DNS on
127.0.0.1:53 and its pre-start puts ``nameserver 127.0.0.1`` first in resolv.conf, so
``mysql.service.consul`` resolves like any other name (:class:`SystemResolver`). Asking an
agent's DNS interface directly (:class:`ConsulDnsResolver`) is for the local lab, whose agents
share one machine and serve DNS on port 8600 of their own address, and for a tunnel to a VM's
agent.
"""

from __future__ import annotations

import socket
from typing import Protocol

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from cf_mysql_consul.benchmark_bbs.config import split_address


class ResolveError(OSError):
    """The name had no usable answer (the message says what was asked and where)."""


class Resolver(Protocol):
    """Gives the (host, port) candidates for a new connection, in the order to try them."""

    def candidates(self) -> list[tuple[str, int]]:
        """Addresses to try for one new connection (raise ``ResolveError`` when there are none)."""
        ...

    def describe(self) -> str:
        """One line for reports."""
        ...


class FixedResolver:
    """Always the same addresses, tried in order (a standby proxy refuses, the next one serves)."""

    def __init__(self, addresses: tuple[str, ...] | list[str], default_port: int = 3306) -> None:
        self.addresses = [split_address(a, default_port) for a in addresses]

    def candidates(self) -> list[tuple[str, int]]:
        """The configured addresses."""
        return list(self.addresses)

    def describe(self) -> str:
        """E.g. ``fixed 127.0.10.4:3306, 127.0.10.5:3306``."""
        return "fixed " + ", ".join(f"{h}:{p}" for h, p in self.addresses)


class SystemResolver:
    """``name`` through this machine's resolver (``getaddrinfo``), with a fixed port."""

    def __init__(self, name: str, port: int = 3306) -> None:
        self.name = name
        self.port = port

    def candidates(self) -> list[tuple[str, int]]:
        """Every IPv4 address the resolver answers for the name right now, in its order."""
        try:
            infos = socket.getaddrinfo(self.name, self.port, socket.AF_INET, socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolveError(f"{self.name} through this VM's resolver (resolv.conf): {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise ResolveError(f"{self.name} through this VM's resolver: no address")
        return [(a, self.port) for a in addresses]

    def describe(self) -> str:
        """E.g. ``resolver mysql.service.consul:3306``."""
        return f"resolver {self.name}:{self.port}"


class ConsulDnsResolver:
    """SRV (for the port) then A records of ``service`` from a Consul agent's DNS interface (UDP, or
    TCP with ``tcp``: through an SSH tunnel, which carries TCP only)."""

    def __init__(self, dns_address: str, service: str = "mysql.service.consul", *, timeout: float = 2.0,
                 tcp: bool = False) -> None:
        self.server, self.port = split_address(dns_address, 8600)
        self.service = service
        self.timeout = timeout
        self.tcp = tcp

    def _query(self, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        query = dns.message.make_query(self.service, rdtype)
        ask = dns.query.tcp if self.tcp else dns.query.udp
        try:
            return ask(query, self.server, port=self.port, timeout=self.timeout)
        except (dns.exception.DNSException, OSError) as exc:
            raise ResolveError(f"DNS {self.service} at {self.server}:{self.port}: {exc}") from exc

    def candidates(self) -> list[tuple[str, int]]:
        """Every healthy instance of the service, as Consul answers right now."""
        answer = self._query(dns.rdatatype.SRV)
        ports: dict[str, int] = {}
        addresses: dict[str, str] = {}
        for rrset in (*answer.answer, *answer.additional):
            for rdata in rrset:
                if rdata.rdtype == dns.rdatatype.SRV:
                    ports[str(rdata.target)] = int(rdata.port)
                elif rdata.rdtype == dns.rdatatype.A:
                    addresses[str(rrset.name)] = str(rdata.address)
        found = [(addresses[t], p) for t, p in ports.items() if t in addresses]
        if not found:
            raise ResolveError(f"DNS {self.service} at {self.server}:{self.port}: no healthy instance")
        return found

    def describe(self) -> str:
        """E.g. ``consul dns mysql.service.consul @127.0.10.10:8600``."""
        return f"consul dns {self.service} @{self.server}:{self.port}{'/tcp' if self.tcp else ''}"
