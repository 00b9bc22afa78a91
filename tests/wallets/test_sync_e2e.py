"""Import over HTTP, first sync against the dev chain (Esplora), then what the wallet area shows:
sync status, balance, used addresses with their balances, the extended gap window, and
nextReceiveAddress skipping used addresses. Also: an unreachable backend is a status, not a
failed import."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from app.dev.devchain.runner import ThreadedDevChain
from tests.support.server import GraphQLClient
from tests.wallets.helpers import addresses, import_wallet

STATUS = (
    "query($id: ID!) { wallet(id: $id) { syncStatus syncError lastSyncedAt balance { confirmed unconfirmed total } } }"
)
NEXT = "mutation($w: ID!) { nextReceiveAddress(walletId: $w) { address index used reserved } }"


async def wait_status(gql: GraphQLClient, wallet_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        w: dict[str, Any] = (await gql(STATUS, {"id": wallet_id}))["data"]["wallet"]
        if w["syncStatus"] in ("SYNCED", "ERROR"):
            return w
        assert time.monotonic() < deadline, w
        await asyncio.sleep(0.1)


class TestWithDevChain:
    @pytest.fixture
    def settings_overrides(self, devchain_small: ThreadedDevChain) -> dict[str, Any]:
        return {"regtest_esplora_url": devchain_small.esplora_url, "sync_interval_s": 3600}

    async def test_first_sync_marks_addresses_and_extends_the_window(
        self, devchain_small: ThreadedDevChain, gql: GraphQLClient, user_token: str
    ) -> None:
        info = devchain_small.info
        for scenario_wallet in info["wallets"]:
            w = await import_wallet(
                gql, name=scenario_wallet["name"], source=scenario_wallet["descriptor"], network="REGTEST", gapLimit=20
            )
            st = await wait_status(gql, w["id"])
            assert st["syncStatus"] == "SYNCED", st["syncError"]
            assert st["lastSyncedAt"] is not None
            expected = scenario_wallet["expected"]
            assert st["balance"]["confirmed"] == expected["confirmed"]
            assert st["balance"]["unconfirmed"] == expected["unconfirmed"]

            conn = await addresses(gql, w["id"], first=500)
            nodes = [e["node"] for e in conn["edges"]]
            used = [n for n in nodes if n["used"]]
            if expected["txCount"]:
                assert used, scenario_wallet["name"]
            # address balances add up to the wallet's balance
            assert sum(n["balance"] for n in nodes) == st["balance"]["total"]
            assert all(n["txCount"] > 0 for n in used)
            # gap_limit unused addresses follow the last used one on each chain
            for chain in ("RECEIVE", "CHANGE"):
                on_chain = [n for n in nodes if n["chain"] == chain]
                last_used = max((n["index"] for n in on_chain if n["used"]), default=-1)
                assert len(on_chain) >= last_used + 1 + 20
            # the next receive address is never a used one
            nxt = (await gql(NEXT, {"w": w["id"]}))["data"]["nextReceiveAddress"]
            assert nxt["used"] is False and nxt["reserved"] is True
            used_receive = {n["index"] for n in used if n["chain"] == "RECEIVE"}
            assert nxt["index"] not in used_receive
            assert nxt["index"] == min(
                n["index"] for n in nodes if n["chain"] == "RECEIVE" and not n["used"] and not n["reserved"]
            )


async def test_unreachable_backend_is_a_status_not_a_failed_import(gql: GraphQLClient, user_token: str) -> None:
    from tests.wallets.test_import_api import ZPUB as zpub

    w = await import_wallet(gql, source=zpub)
    assert w["id"]
    st = await wait_status(gql, w["id"])
    assert st["syncStatus"] == "ERROR"
    assert st["syncError"]
    assert st["balance"]["total"] == 0
    # the wallet and its addresses are there
    assert (await addresses(gql, w["id"]))["totalCount"] == 40


class TestLabelExportWithChainData:
    """BIP-329 export after a real sync fills the data fields from the chain and stored prices."""

    @pytest.fixture
    def settings_overrides(self, devchain_small: ThreadedDevChain) -> dict[str, Any]:
        return {"regtest_esplora_url": devchain_small.esplora_url, "sync_interval_s": 3600}

    async def test_export_fills_height_time_fee_value_keypath_and_fmv(
        self, devchain_small: ThreadedDevChain, server: Any, gql: GraphQLClient, user_token: str
    ) -> None:
        import json
        from datetime import datetime
        from decimal import Decimal

        from app.prices.provider import DailyClose

        scenario_wallet = devchain_small.info["wallets"][0]
        w = await import_wallet(gql, source=scenario_wallet["descriptor"], network="REGTEST", gapLimit=20)
        assert (await wait_status(gql, w["id"]))["syncStatus"] == "SYNCED"
        q = (
            "query($id: ID!) { wallet(id: $id) { utxos { txid vout value address chain index confirmations } "
            "transactions(first: 100) { edges { node { txid blockHeight blockTime fee netAmount confirmations } } } } }"
        )
        data = (await gql(q, {"id": w["id"]}))["data"]["wallet"]
        firm = [e["node"] for e in data["transactions"]["edges"] if e["node"]["confirmations"] >= 6]
        tx = firm[0]
        utxo = next(u for u in data["utxos"] if u["confirmations"] >= 6)
        funding = next(e["node"] for e in data["transactions"]["edges"] if e["node"]["txid"] == utxo["txid"])
        day = datetime.fromisoformat(funding["blockTime"]).date()
        await server.container.prices.store_closes([DailyClose("USD", day, Decimal("50000.00"), "test")])
        jsonl = (
            json.dumps({"type": "tx", "ref": tx["txid"], "label": "t"})
            + "\n"
            + json.dumps({"type": "output", "ref": f"{utxo['txid']}:{utxo['vout']}", "label": "o"})
            + "\n"
            + json.dumps({"type": "addr", "ref": utxo["address"], "label": "a"})
        )
        await gql(
            "mutation($w: ID!, $j: String!) { importLabels(walletId: $w, jsonl: $j) }", {"w": w["id"], "j": jsonl}
        )
        text = (await gql("mutation($w: ID!) { exportLabels(walletId: $w) }", {"w": w["id"]}))["data"]["exportLabels"]
        got = {(r["type"]): r for r in map(json.loads, text.splitlines())}
        t = got["tx"]
        assert t["height"] == tx["blockHeight"] and t["value"] == tx["netAmount"]
        assert t["time"].endswith("Z") and datetime.fromisoformat(t["time"]) == datetime.fromisoformat(tx["blockTime"])
        assert t.get("fee") == tx["fee"]
        o = got["output"]
        chain = 0 if utxo["chain"] == "RECEIVE" else 1
        assert o["value"] == utxo["value"] and o["keypath"] == f"/{chain}/{utxo['index']}"
        assert o["height"] == funding["blockHeight"]
        # fmv = value x the stored close of the block's day, an exact decimal number in the JSON text
        expected = (Decimal(utxo["value"]) / Decimal(100_000_000) * Decimal("50000.00")).quantize(Decimal("0.01"))
        assert f'"fmv":{{"USD":{expected}}}' in text
        a = got["addr"]
        assert a["keypath"] == o["keypath"] and funding["blockHeight"] in a["heights"]
