"""devlnd over real TLS gRPC, and production clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.dev.devlnd import DevLnd
from app.lightning.client import LndClient


@pytest.fixture
async def devlnd() -> AsyncIterator[DevLnd]:
    async with DevLnd.start(seed=7) as node:
        yield node


def client_for(node: DevLnd, macaroon: str = "admin", **kw: object) -> LndClient:
    mac_hex = node.macaroons.get(macaroon, macaroon)
    return LndClient(
        node.host, node.port, node.tls_cert_pem, mac_hex, min_reconnect_backoff_s=0.1, max_reconnect_backoff_s=0.5, **kw
    )  # type: ignore[arg-type]


@pytest.fixture
async def admin(devlnd: DevLnd) -> AsyncIterator[LndClient]:
    async with client_for(devlnd) as c:
        yield c


@pytest.fixture
async def readonly(devlnd: DevLnd) -> AsyncIterator[LndClient]:
    async with client_for(devlnd, "readonly") as c:
        yield c
