"""Which addresses the server may dial for a user's Lightning node (no SSRF, no port scanner).

A user gives a host and a port and the server connects to it: without a policy any user could make
the server probe its own loopback, the LAN or cloud metadata (link-local) and tell open ports from
closed ones by the error. Private, loopback, link-local, multicast, reserved and unspecified
addresses are refused unless the operator allows them with ``MBF_LIGHTNING_ALLOWED_HOSTS`` (host
names, IP addresses or CIDR networks; a self-hosted box with LND on the same host sets
``["127.0.0.1"]``). Every address a name resolves to is checked. Unreachable hosts all get one message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

from app.errors import BadInput, UpstreamUnavailable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNREACHABLE = "No LND node answered at this host and port. Nothing was saved."
UNREACHABLE_HINT = "Check the host, the port (LND's gRPC port, 10009 by default) and that the node is running."


class AddressPolicy:
    def __init__(self, allowed: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allowed:
            entry = entry.strip().lower().strip("[]")
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry.rstrip("."))

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.networks)

    @staticmethod
    def internal(ip: IPAddress) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified

    async def check(self, host: str, port: int) -> None:
        """Raise :class:`BadInput` for an internal address not allowed by the operator."""
        if host.lower().rstrip(".") in self.names:
            return
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                raise UpstreamUnavailable(UNREACHABLE, field="host", hint=UNREACHABLE_HINT) from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        for ip in addresses:
            if self.internal(ip) and not self._allowed(ip):
                raise BadInput(
                    "This host is a private, loopback or link-local address, which this server does not "
                    "connect to for users. Nothing was saved.",
                    field="host",
                    hint="The operator can allow it: MBF_LIGHTNING_ALLOWED_HOSTS='[\"<host or CIDR>\"]'.",
                )
