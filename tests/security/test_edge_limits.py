"""Abuse limits at the edges (issue #10 item 6): Lightning node addresses (no SSRF, no port scanner),
currencies of public subscriptions, request body read timeout."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.lightning.macaroon import mint
from tests.support.server import GraphQLClient, LiveServer, error_codes

CONNECT = "mutation($i: ConnectLightningNodeInput!) { connectLightningNode(input: $i) { id } }"


def _self_signed_cert() -> str:
    """A real, parseable self-signed certificate (as LND makes), so only reachability differs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lnd")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CERT = _self_signed_cert()
MACAROON = mint(b"k" * 32, {"info": ("read",), "offchain": ("read",)}, nonce=b"n" * 16).hex()


def _node(host: str, port: int = 10009) -> dict[str, Any]:
    return {"name": "n", "host": host, "port": port, "tlsCert": CERT, "macaroon": MACAROON, "network": "REGTEST"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestNoAllowList:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"lightning_allowed_hosts": []}

    @pytest.mark.parametrize(
        "host",
        [
            "127.0.0.1",
            "localhost",
            "10.1.2.3",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "[::ffff:127.0.0.1]",
            "0.0.0.0",
        ],
    )
    async def test_internal_addresses_are_refused(self, gql: GraphQLClient, user_token: str, host: str) -> None:
        body = await gql(CONNECT, {"i": _node(host)}, expect_errors=True)
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert body["errors"][0]["extensions"]["field"] == "host"
        assert "MBF_LIGHTNING_ALLOWED_HOSTS" in body["errors"][0]["extensions"]["hint"]


class TestAllowListedLoopback:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"lightning_allowed_hosts": ["127.0.0.0/8"], "lnd_timeout_s": 1.0}

    async def test_unreachable_hosts_get_one_message(self, gql: GraphQLClient, user_token: str) -> None:
        """A closed port and an unresolvable name answer alike: the API is no port scanner."""
        closed = await gql(CONNECT, {"i": _node("127.0.0.1", _free_port())}, expect_errors=True)
        unknown = await gql(CONNECT, {"i": _node("no-such-host.invalid")}, expect_errors=True)
        shapes = [
            (error_codes(b), b["errors"][0]["message"], b["errors"][0]["extensions"].get("field"))
            for b in (closed, unknown)
        ]
        assert shapes[0] == shapes[1] and shapes[0][0] == ["UPSTREAM_UNAVAILABLE"], shapes
        lightning = await gql("{ lightningNodes { id } }")
        assert lightning["data"]["lightningNodes"] == []


async def test_price_updated_accepts_only_quoted_currencies(server: LiveServer) -> None:
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        query = "subscription($c: String!) { priceUpdated(currency: $c) { value } }"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"c": "NOPE"}}})
        )
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"].get("errors")
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], msg
        assert errors[0]["extensions"]["field"] == "currency"


class TestBodyReadTimeout:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"body_read_timeout_s": 0.5}

    async def test_a_trickling_body_gets_408(self, server: LiveServer) -> None:
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
            writer.write(head + b'\r\n{"qu')
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)  # bound only; comes at 0.5 s
            assert answer.startswith(b"HTTP/1.1 408")
        finally:
            writer.close()


class TestAnonymousSocketCaps:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"ws_max_anonymous_per_ip": 2, "ws_max_anonymous_total": 3}

    @staticmethod
    async def _connect(server: LiveServer, local: str = "127.0.0.1") -> tuple[Any, int | None]:
        """An anonymous socket and None once acknowledged, or the close code it got instead."""
        ws = await websockets.connect(
            server.ws_url,
            subprotocols=["graphql-transport-ws"],
            local_addr=(local, 0),  # type: ignore[list-item]
        )
        try:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
            return ws, None
        except websockets.ConnectionClosed as closed:
            return ws, closed.rcvd.code if closed.rcvd is not None else -1

    async def test_caps_per_address_and_in_total(self, server: LiveServer) -> None:
        first, code1 = await self._connect(server)
        second, code2 = await self._connect(server)
        assert (code1, code2) == (None, None)
        assert (await self._connect(server))[1] == 4429  # third from the same address
        other, code = await self._connect(server, "127.0.0.2")  # another address: its own cap
        assert code is None
        assert (await self._connect(server, "127.0.0.3"))[1] == 4429  # total of 3 reached
        await first.close()
        await first.wait_closed()
        for _ in range(100):  # each try is a real connection; the bound only fails the test
            again, code = await self._connect(server)
            await again.close()
            if code is None:
                break
        else:
            raise AssertionError("a closed anonymous socket's slot was never released")
        for ws in (second, other):
            await ws.close()
