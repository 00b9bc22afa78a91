"""Static channel backups over GraphQL and HTTP against devlnd: export, keep encrypted, download, verify, live."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pytest
from sqlmodel import select

from app.dev.devlnd import DevLnd
from app.events.envelope import id_floor
from app.store.models.lightning import LightningNode
from tests.lightning.test_graphql import OPEN, connect, next_data
from tests.subscriptions.wsclient import EVENTS, WS, nothing_pending, refused
from tests.support.server import GraphQLClient, LiveServer, error_codes
from tests.support.signals import registered

BACKUP = """query($n: ID!) { channelBackup(nodeId: $n) {
  nodeId createdAt channelPoints channelCount size sha256 downloadUrl base64 } }"""
VERIFY = """mutation($n: ID!, $b: String) { verifyChannelBackup(nodeId: $n, backup: $b) {
  valid channelPoints message } }"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"lnd_timeout_s": 3.0, "lnd_stream_min_backoff_s": 0.05, "lnd_stream_max_backoff_s": 0.3}


def backed_up(node: DevLnd) -> set[str]:
    return {c.channel_point for c in node.state.channels if c.status in ("open", "pending_open")}


async def test_export_keep_encrypted_and_download(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    n = await connect(gql, devlnd, "readonly")  # offchain:read is enough
    b = (await gql(BACKUP, {"n": n["id"]}))["data"]["channelBackup"]
    raw = base64.b64decode(b["base64"])
    assert set(b["channelPoints"]) == backed_up(devlnd) and b["channelCount"] == 5
    assert b["size"] == len(raw) and b["sha256"] == hashlib.sha256(raw).hexdigest()
    assert b["downloadUrl"] == f"/lightning/{n['id']}/channel-backup"

    # kept encrypted with the owner's secrets
    async with server.container.store.read() as s:
        row = (await s.exec(select(LightningNode))).one()
    assert row.channel_backup_enc and b["base64"] not in row.channel_backup_enc
    assert raw.hex() not in row.channel_backup_enc
    with pytest.raises(Exception):  # noqa: B017 - bound to the owner: another aad cannot open it
        server.container.keyring.decrypt(row.channel_backup_enc, aad="someone-else")

    # downloadable by the owner only
    r = await gql.http.get(b["downloadUrl"], headers={"authorization": f"Bearer {user_token}"})
    assert r.status_code == 200 and r.content == raw
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith('attachment; filename="channel-devlnd-')
    assert (await gql.http.get(b["downloadUrl"])).status_code == 401
    bob = await gql.register("bob@example.com")
    r = await gql.http.get(b["downloadUrl"], headers={"authorization": f"Bearer {bob}"})
    assert r.status_code == 404 and b["base64"] not in r.text
    assert error_codes(await gql(BACKUP, {"n": n["id"]}, token=bob, expect_errors=True)) == ["NOT_FOUND"]


async def test_no_backup_yet_and_no_permission(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd, devlnd.bake({"info": ("read",), "invoices": ("read", "write")}))
    r = await gql.http.get(f"/lightning/{n['id']}/channel-backup", headers={"authorization": f"Bearer {user_token}"})
    assert r.status_code == 404
    body = await gql(BACKUP, {"n": n["id"]}, expect_errors=True)
    assert error_codes(body) == ["FORBIDDEN"] and "offchain:read" in body["errors"][0]["message"]
    body = await gql(VERIFY, {"n": n["id"]}, expect_errors=True)
    assert error_codes(body) == ["NOT_FOUND"]


@pytest.mark.parametrize("version", ["0.17.4-beta", "0.21.2-beta"])
async def test_verify(gql: GraphQLClient, user_token: str, version: str) -> None:
    async with DevLnd.start(seed=9, version=version) as node, DevLnd.start(seed=10) as other:
        n = await connect(gql, node)
        b = (await gql(BACKUP, {"n": n["id"]}))["data"]["channelBackup"]
        v = (await gql(VERIFY, {"n": n["id"]}))["data"]["verifyChannelBackup"]
        assert v["valid"] is True
        # LND >= 0.19 lists the channel points (a field newer than the vendored definitions, read from the
        # same bytes by app/lightning/newer.py); 0.17 only says "valid".
        assert b["channelPoints"]
        if version.startswith("0.17"):
            assert v["channelPoints"] is None
        else:
            assert sorted(v["channelPoints"]) == sorted(b["channelPoints"])
        v = (await gql(VERIFY, {"n": n["id"], "b": b["base64"]}))["data"]["verifyChannelBackup"]
        assert v["valid"] is True
        raw = bytearray(base64.b64decode(b["base64"]))
        raw[-1] ^= 1
        v = (await gql(VERIFY, {"n": n["id"], "b": base64.b64encode(bytes(raw)).decode()}))["data"][
            "verifyChannelBackup"
        ]
        assert v == {"valid": False, "channelPoints": None, "message": v["message"]}
        assert "message authentication failed" in v["message"]
        # another node's backup is not this node's
        n2 = await connect(gql, other, name="other")
        b2 = (await gql(BACKUP, {"n": n2["id"]}))["data"]["channelBackup"]
        v = (await gql(VERIFY, {"n": n["id"], "b": b2["base64"]}))["data"]["verifyChannelBackup"]
        assert v["valid"] is False
        for bad in ["not base64!", ""]:
            body = await gql(VERIFY, {"n": n["id"], "b": bad}, expect_errors=True)
            assert error_codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == "backup"


async def test_channel_backup_updated_live_and_stored(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    n = await connect(gql, devlnd)
    await server.container.lightning.wait_streams_up(n["id"])
    since = id_floor(int(time.time() * 1000) - 1)
    erin = next(p for p in devlnd.state.directory.values() if p.alias == "erin")
    opened = (await gql(OPEN, {"i": {"nodeId": n["id"], "peer": f"{erin.pubkey}@{erin.host}", "capacity": 60_000}}))[
        "data"
    ]["openChannel"]
    ws = await WS.open(server.ws_url)
    try:
        await ws.init(user_token)
        await ws.subscribe("e", EVENTS, {"after": since})
        while True:
            ev = (await next_data(ws, "e"))["data"]["events"]
            if ev["__typename"] == "ChannelBackupUpdate":
                break
        assert ev["nodeId"] == n["id"] and opened["channelPoint"] in ev["channelPoints"]
        assert ev["channelCount"] == 6
    finally:
        await ws.close()
    r = await gql.http.get(f"/lightning/{n['id']}/channel-backup", headers={"authorization": f"Bearer {user_token}"})
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == ev["sha256"]


async def test_channel_backup_updated_subscription_is_the_owners_only(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    """The typed ``channelBackupUpdated``: the owner's subscription gets the refresh after a channel
    opens; another user naming the node gets NOT_FOUND on nodeId and nothing of it."""
    n = await connect(gql, devlnd)
    await server.container.lightning.wait_streams_up(n["id"])
    doc = "subscription($n: ID!) { channelBackupUpdated(nodeId: $n) { nodeId channelPoints channelCount sha256 } }"
    bob = await WS.open(server.ws_url)
    ws = await WS.open(server.ws_url)
    try:
        assert (await bob.init(await gql.register("bob@example.com")))["type"] == "connection_ack"
        await bob.subscribe("b", doc, {"n": n["id"]})
        error = await refused(bob, "b")
        assert error["extensions"]["code"] == "NOT_FOUND" and error["extensions"]["field"] == "nodeId"
        assert (await ws.init(user_token))["type"] == "connection_ack"
        async with registered(server, 1):
            await ws.subscribe("b", doc, {"n": n["id"]})
        erin = next(p for p in devlnd.state.directory.values() if p.alias == "erin")
        opened = await gql(OPEN, {"i": {"nodeId": n["id"], "peer": f"{erin.pubkey}@{erin.host}", "capacity": 70_000}})
        point = opened["data"]["openChannel"]["channelPoint"]
        while True:  # (a refresh of the channels before this one may come first)
            ev = (await next_data(ws, "b"))["data"]["channelBackupUpdated"]
            if point in ev["channelPoints"]:
                break
        assert ev["nodeId"] == n["id"] and ev["channelCount"] == len(ev["channelPoints"]) == 6
        await nothing_pending(bob)
    finally:
        await ws.close()
        await bob.close()
    r = await gql.http.get(f"/lightning/{n['id']}/channel-backup", headers={"authorization": f"Bearer {user_token}"})
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == ev["sha256"]
