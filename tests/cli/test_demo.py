"""``mbf demo`` as a newcomer runs it: one process, printed credentials, live wallets and payments."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.foundation.test_cli_process import MBF, ROOT, _env
from tests.subscriptions.wsclient import WS
from tests.support.server import GraphQLClient

pytestmark = pytest.mark.slow

DEMO_EVENTS = (
    "subscription { events { __typename ... on TransactionEvent { walletId historical transaction { netAmount } } "
    "... on InvoiceUpdate { invoice { state } } } }"
)
WALLETS = "{ wallets { edges { node { id name syncStatus balance { total } } } } }"


async def _events_until(ws: WS, wanted: set[str], timeout: float = 60) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while not wanted <= set(seen):
        msg = await ws.recv(wait_s=max(0.1, deadline - time.monotonic()))
        assert msg["type"] == "next", msg
        event = msg["payload"]["data"]["events"]
        seen.setdefault(event["__typename"], event)
    return seen


async def test_demo_in_one_command(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *MBF,
        "demo",
        "--port",
        "0",
        "--block-interval",
        "1",
        "--json",
        "--data-dir",
        str(tmp_path / "demo"),
        env=_env(tmp_path, MBF_PRICE_POLL_ENABLED="false"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        summary = json.loads(line)
        base = summary["graphql"].removesuffix("/graphql")
        gql = GraphQLClient(base)
        try:
            # Sign in with the printed credentials.
            login = await gql(
                "mutation($i: LoginInput!) { login(input: $i) { token } }",
                {"i": {"email": summary["email"], "password": summary["password"]}},
            )
            gql.token = login["data"]["login"]["token"]

            # The scenario's wallets are there and sync to their balances.
            deadline = time.monotonic() + 90
            while True:
                nodes = [e["node"] for e in (await gql(WALLETS))["data"]["wallets"]["edges"]]
                if nodes and all(n["syncStatus"] == "SYNCED" for n in nodes):
                    break
                assert time.monotonic() < deadline, nodes
                await asyncio.sleep(0.5)
            assert sorted(n["name"] for n in nodes) == summary["wallets"]
            assert sum(n["balance"]["total"] for n in nodes) > 0
            portfolio = await gql("query($id: ID!) { portfolio(id: $id) { name } }", {"id": summary["portfolioId"]})
            assert portfolio["data"]["portfolio"]["name"] == "Demo portfolio"

            # A new block brings a payment to one of the wallets, and an invoice is settled, live.
            ws = await WS.open(summary["websocket"])
            try:
                assert (await ws.init(gql.token))["type"] == "connection_ack"
                await ws.subscribe("1", DEMO_EVENTS)
                seen = await _events_until(ws, {"TransactionEvent", "InvoiceUpdate"})
            finally:
                await ws.conn.close()
            payment = seen["TransactionEvent"]
            assert payment["walletId"] in {n["id"] for n in nodes} and payment["transaction"]["netAmount"] > 0
        finally:
            await gql.aclose()
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0


def test_demo_refuses_a_foreign_directory(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    out = subprocess.run(
        [*MBF, "demo", "--data-dir", str(tmp_path / "mine")],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 2 and "not made by `mbf demo`" in out.stderr
    assert (tmp_path / "mine" / "precious.txt").read_text() == "keep me"
