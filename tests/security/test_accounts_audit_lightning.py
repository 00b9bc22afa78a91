"""Audit entries for Lightning changes (node added/removed, channel opened/closed) against devlnd."""

from __future__ import annotations

from typing import Any

import pytest

from app.dev.devlnd import DevLnd
from tests.lightning.conftest import devlnd  # noqa: F401  (the fixture)
from tests.security.accounts_helpers import PASSWORD
from tests.support.server import GraphQLClient, error_codes

CONNECT = "mutation($i: ConnectLightningNodeInput!) { connectLightningNode(input: $i) { id } }"
OPEN = "mutation($i: OpenChannelInput!) { openChannel(input: $i) { channelPoint } }"
CLOSE = "mutation($i: CloseChannelInput!) { closeChannel(input: $i) { channelPoint } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"lnd_timeout_s": 3.0, "lnd_stream_min_backoff_s": 0.05, "lnd_stream_max_backoff_s": 0.3}


async def test_lightning_changes_are_audited_and_need_lightning_write(
    gql: GraphQLClient,
    user_token: str,
    devlnd: DevLnd,  # noqa: F811
) -> None:
    node_input = {
        "name": "n",
        "host": devlnd.host,
        "port": devlnd.port,
        "tlsCert": devlnd.tls_cert_pem,
        "macaroon": devlnd.macaroons["admin"],
        "network": "REGTEST",
    }
    node_id = (await gql(CONNECT, {"i": node_input}))["data"]["connectLightningNode"]["id"]
    erin = next(p for p in devlnd.state.directory.values() if p.alias == "erin")
    open_input = {"nodeId": node_id, "peer": f"{erin.pubkey}@{erin.host}", "capacity": 300_000}

    reader = await gql(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { token } }",
        {"i": {"name": "r", "scopes": ["LIGHTNING_READ"], "password": PASSWORD}},
    )
    denied = await gql(OPEN, {"i": open_input}, token=reader["data"]["createApiKey"]["token"], expect_errors=True)
    assert error_codes(denied) == ["FORBIDDEN"] and "lightning:write" in denied["errors"][0]["message"]

    point = (await gql(OPEN, {"i": open_input}))["data"]["openChannel"]["channelPoint"]
    chans = await gql(
        "query($id: ID!) { lightningNode(id: $id) { channels(first: 50) { edges { node { channelPoint active } } } } }",
        {"id": node_id},
    )
    inactive = next(
        e["node"]["channelPoint"]
        for e in chans["data"]["lightningNode"]["channels"]["edges"]
        if not e["node"]["active"]
    )
    await gql(CLOSE, {"i": {"nodeId": node_id, "channelPoint": inactive, "force": True}})
    await gql("mutation($id: ID!) { disconnectLightningNode(id: $id) }", {"id": node_id})

    log = await gql("{ auditLog(first: 50) { edges { node { action subject } } } }")
    entries = [(e["node"]["action"], e["node"]["subject"]) for e in log["data"]["auditLog"]["edges"]]
    lightning = [e for e in reversed(entries) if e[0].startswith(("lightning_node", "channel"))]
    assert lightning == [
        ("lightning_node.added", node_id),
        ("channel.opened", point),
        ("channel.closed", inactive),
        ("lightning_node.removed", node_id),
    ]
