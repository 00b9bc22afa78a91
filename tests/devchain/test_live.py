"""Live operations through the DevChain API, the control endpoint and the servers:
mining, payments, notifications, reorg, replacement, latency."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx

from app.dev.devchain.primitives import address_to_spk
from app.dev.devchain.runner import DevChain


def electrum_sh(address: str) -> str:
    return hashlib.sha256(address_to_spk(address)).digest()[::-1].hex()


async def test_notifications_on_payment_and_mine(devchain: DevChain, electrum_client: Any) -> None:
    client = await electrum_client(devchain)
    addr = devchain.info["wallets"][3]["firstAddress"]  # p2tr
    sh = electrum_sh(addr)
    tip = await client.request("blockchain.headers.subscribe")
    status0 = await client.request("blockchain.scripthash.subscribe", sh)
    before = devchain.expected("dave")

    txid = await devchain.send(addr, 123_456)
    note = await client.notification()
    assert note["method"] == "blockchain.scripthash.subscribe"
    assert note["params"][0] == sh and note["params"][1] not in (None, status0)
    hist = await client.request("blockchain.scripthash.get_history", sh)
    assert hist[-1]["tx_hash"] == txid and hist[-1]["height"] in (0, -1)
    assert devchain.expected("dave")["unconfirmed"] == before["unconfirmed"] + 123_456

    (bhash,) = await devchain.mine(1)
    notes = [await client.notification(), await client.notification()]
    by_method = {n["method"]: n["params"] for n in notes}
    header = by_method["blockchain.headers.subscribe"][0]
    assert header["height"] == tip["height"] + 1
    assert hashlib.sha256(hashlib.sha256(bytes.fromhex(header["hex"])).digest()).digest()[::-1].hex() == bhash
    sh2, status2 = by_method["blockchain.scripthash.subscribe"]
    assert sh2 == sh
    hist = await client.request("blockchain.scripthash.get_history", sh)
    assert status2 == hashlib.sha256("".join(f"{h['tx_hash']}:{h['height']}:" for h in hist).encode()).hexdigest()
    assert hist[-1] == {"height": tip["height"] + 1, "tx_hash": txid}
    after = devchain.expected("dave")
    # mining confirms the whole mempool
    assert after["unconfirmed"] == 0
    assert after["confirmed"] == before["confirmed"] + before["unconfirmed"] + 123_456
    async with httpx.AsyncClient(base_url=devchain.esplora_url) as http:
        st = (await http.get(f"/tx/{txid}/status")).json()
        assert st == {
            "confirmed": True,
            "block_height": tip["height"] + 1,
            "block_hash": bhash,
            "block_time": st["block_time"],
        }


async def test_broadcast_through_esplora_and_electrum(devchain: DevChain, electrum_client: Any) -> None:
    """A wallet-signed transaction submitted over POST /tx shows up on both servers."""
    from app.dev.devchain.builder import Coin, build_and_sign
    from app.dev.devchain.primitives import TxOut

    st = devchain.state
    alice = st.wallet("alice")
    ch = st.chain
    addr = devchain.info["wallets"][0]["firstAddress"]
    spk = address_to_spk(addr)
    async with httpx.AsyncClient(base_url=devchain.esplora_url) as http:
        utxo = [u for u in (await http.get(f"/address/{addr}/utxo")).json() if u["status"]["confirmed"]]
        if not utxo:
            txid = await devchain.send(addr, 500_000)
            await devchain.mine()
            utxo = [{"txid": txid, "vout": 0, "value": 500_000}]
        u = utxo[0]
        coin = Coin(u["txid"], u["vout"], u["value"], spk)
        tx = build_and_sign([coin], [alice.keys[spk]], [TxOut(u["value"] - 1000, st.faucet_spk)])
        r = await http.post("/tx", content=tx.raw.hex())
        assert (r.status_code, r.text) == (200, tx.txid)
        assert tx.txid in ch.mempool
        client = await electrum_client(devchain)
        assert await client.request("blockchain.transaction.get", tx.txid) == tx.raw.hex()
        # the same outputs again: a conflict without RBF signalling
        tx2 = build_and_sign([coin], [alice.keys[spk]], [TxOut(u["value"] - 5000, st.faucet_spk)])
        r = await http.post("/tx", content=tx2.raw.hex())
        assert r.status_code == 400 and "txn-mempool-conflict" in r.text
        msg = await client.send_raw(
            b'{"jsonrpc":"2.0","id":1,"method":"blockchain.transaction.broadcast","params":["'
            + tx2.raw.hex().encode()
            + b'"]}'
        )
        assert msg["error"]["code"] == 1 and "txn-mempool-conflict" in msg["error"]["message"]


async def test_control_endpoint(devchain: DevChain) -> None:
    addr = devchain.info["wallets"][0]["firstAddress"]
    async with httpx.AsyncClient(base_url=devchain.control_url) as ctl:
        h0 = devchain.state.chain.height
        r = await ctl.post("/mine", json={"n": 2})
        assert r.status_code == 200 and r.json()["height"] == h0 + 2
        r = await ctl.post("/send", json={"address": addr, "sats": 77_000})
        txid = r.json()["txid"]
        assert txid in devchain.state.chain.mempool
        r = await ctl.post("/replace", json={"txid": txid})
        new = r.json()["txid"]
        assert new != txid and txid not in devchain.state.chain.txs
        r = await ctl.post("/send", json={"address": "not-an-address", "sats": 1})
        assert r.status_code == 400
        r = await ctl.post("/mine", json={"n": "x"})
        assert r.status_code == 400
        r = await ctl.post("/reorg", json={"depth": 2})
        assert r.status_code == 200 and len(r.json()["newBlocks"]) == 3
        status = (await ctl.get("/status")).json()
        assert status["tip"]["height"] == h0 + 3
        r = await ctl.post("/timer", json={"seconds": 0})
        assert r.json() == {"blockInterval": None}


async def test_reorg_scenario_over_esplora(tmp_path: Path, electrum_client: Any) -> None:
    async with DevChain.start(scenario="reorg", seed=1, data_dir=tmp_path) as dc:
        client = await electrum_client(dc)
        tip = await client.request("blockchain.headers.subscribe")
        async with httpx.AsyncClient(base_url=dc.esplora_url) as http:
            old_hash = (await http.get("/blocks/tip/hash")).text
            result = await dc.reorg(3)
            note = await client.notification()
            assert note["method"] == "blockchain.headers.subscribe"
            assert note["params"][0]["height"] == tip["height"] + 1
            assert (await http.get(f"/block/{old_hash}/status")).json() == {"in_best_chain": False}
            for txid in result["dropped"]:
                r = await http.get(f"/tx/{txid}")
                assert (r.status_code, r.text) == (404, "Transaction not found")
            assert (await http.get(f"/tx/{result['conflict']}/status")).json()["confirmed"]
            for w in dc.info["wallets"]:
                for spk in dc.state.wallet(w["name"]).spks:
                    sh = hashlib.sha256(spk).hexdigest()
                    txs = (await http.get(f"/scripthash/{sh}/txs")).json()
                    assert not {t["txid"] for t in txs} & set(result["dropped"])


async def test_rbf_scenario_over_esplora(tmp_path: Path) -> None:
    async with DevChain.start(scenario="rbf", seed=1, data_dir=tmp_path) as dc:
        info = dc.info
        old = info["scenarioMeta"]["replaceable"]
        bob = next(w for w in info["wallets"] if w["name"] == "bob")
        async with httpx.AsyncClient(base_url=dc.esplora_url) as http:
            old_tx = (await http.get(f"/tx/{old}")).json()
            assert old_tx["status"] == {"confirmed": False}
            assert all(i["sequence"] < 0xFFFFFFFE for i in old_tx["vin"])
            new = await dc.replace()
            assert (await http.get(f"/tx/{old}")).status_code == 404
            new_tx = (await http.get(f"/tx/{new}")).json()
            assert new_tx["fee"] > old_tx["fee"]
            assert [(i["txid"], i["vout"]) for i in new_tx["vin"]] == [(i["txid"], i["vout"]) for i in old_tx["vin"]]
            assert dc.info["scenarioMeta"]["replaceable"] == new
            assert next(w for w in dc.info["wallets"] if w["name"] == "bob")["expected"] == bob["expected"]


async def test_latency_is_applied(tmp_path: Path, electrum_client: Any) -> None:
    async with DevChain.start(scenario="rbf", seed=1, data_dir=tmp_path, latency_ms=150) as dc:
        async with httpx.AsyncClient(base_url=dc.esplora_url) as http:
            t0 = time.perf_counter()
            await http.get("/blocks/tip/height")
            http_elapsed = time.perf_counter() - t0
        client = await electrum_client(dc)
        t0 = time.perf_counter()
        await client.request("server.ping")
        rpc_elapsed = time.perf_counter() - t0
    # a lower bound only: the delay is added to every answer
    assert http_elapsed >= 0.15 and rpc_elapsed >= 0.15


async def test_block_timer_mines_and_notifies(devchain: DevChain, electrum_client: Any) -> None:
    client = await electrum_client(devchain)
    tip = await client.request("blockchain.headers.subscribe")
    devchain.set_block_interval(0.05)
    try:
        first = await client.notification()
        second = await client.notification()
    finally:
        devchain.set_block_interval(None)
    assert first["params"][0]["height"] == tip["height"] + 1
    assert second["params"][0]["height"] == tip["height"] + 2
    assert devchain.state.chain.mempool == {}


async def test_reorg_without_drop_keeps_every_transaction(devchain: DevChain) -> None:
    ch = devchain.state.chain
    before = set(ch.txs)
    result = await devchain.reorg(2, drop=False)
    assert result["dropped"] == [] and result["conflict"] is None
    old_coinbases = {t for t in before if ch.get_tx(t) is None}
    assert all(t not in ch.txs or ch.txs[t].is_coinbase is False for t in old_coinbases)
    # only the two orphaned coinbases are gone
    assert len(old_coinbases) == 2


async def test_latency_keeps_electrum_order(tmp_path: Path, electrum_client: Any) -> None:
    """With latency, pipelined requests are answered in order and notifications still arrive."""
    async with DevChain.start(scenario="rbf", seed=1, data_dir=tmp_path, latency_ms=30) as dc:
        client = await electrum_client(dc)
        ids = list(range(1, 21))
        lines = [{"jsonrpc": "2.0", "id": i, "method": "blockchain.block.header", "params": [i]} for i in ids]
        for msg in lines:
            client.writer.write(json.dumps(msg).encode() + b"\n")
        await client.writer.drain()
        replies = [await client.read_reply() for _ in ids]
        assert [r["id"] for r in replies] == ids
        tip = await client.request("blockchain.headers.subscribe")
        await dc.mine()
        note = await client.notification()
        assert note["params"][0]["height"] == tip["height"] + 1


async def test_expected_counts_payments_to_fresh_addresses(devchain: DevChain) -> None:
    """A payment to a not-yet-used address (inside the gap limit) shows in the expected figures."""
    from embit.descriptor import Descriptor

    from app.dev.devchain.primitives import spk_address

    w = devchain.info["wallets"][4]  # multisig
    before = w["expected"]
    index = w["usedAddresses"]["receive"] + 5
    desc = Descriptor.from_string(w["descriptors"]["receive"].split("#")[0])
    address = spk_address(desc.derive(index).script_pubkey().data)
    assert address is not None
    await devchain.send(address, 250_000)
    after = devchain.expected(w["name"])
    assert after["unconfirmed"] == before["unconfirmed"] + 250_000
    assert after["txCount"] == before["txCount"] + 1


async def test_broadcast_notifies_subscribers(devchain: DevChain, electrum_client: Any) -> None:
    """A transaction arriving over POST /tx notifies Electrum subscribers of its scripts."""
    from app.dev.devchain.builder import build_and_sign
    from app.dev.devchain.primitives import TxOut

    st = devchain.state
    client = await electrum_client(devchain)
    addr = devchain.info["wallets"][2]["firstAddress"]  # p2pkh
    sh = electrum_sh(addr)
    status0 = await client.request("blockchain.scripthash.subscribe", sh)
    coin = max(st.faucet_utxos(), key=lambda c: c.value)
    tx = build_and_sign(
        [coin], [st.faucet], [TxOut(40_000, address_to_spk(addr)), TxOut(coin.value - 50_000, st.faucet_spk)]
    )
    async with httpx.AsyncClient(base_url=devchain.esplora_url) as http:
        r = await http.post("/tx", content=tx.raw.hex())
        assert r.status_code == 200
    note = await client.notification()
    assert note["method"] == "blockchain.scripthash.subscribe"
    assert note["params"][0] == sh and note["params"][1] != status0
