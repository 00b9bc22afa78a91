"""Esplora and Electrum served by the dev chain: shapes, agreement, paging, merkle proofs, errors."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from app.dev.devchain.primitives import address_to_spk, merkle_root_from_branch
from app.dev.devchain.runner import ThreadedDevChain


def esplora_sh(spk: bytes) -> str:
    return hashlib.sha256(spk).hexdigest()


def electrum_sh(spk: bytes) -> str:
    return hashlib.sha256(spk).digest()[::-1].hex()


@pytest.fixture
async def http(devchain_small: ThreadedDevChain) -> Any:
    async with httpx.AsyncClient(base_url=devchain_small.esplora_url, timeout=30) as client:
        yield client


def wallet_addresses(chain: ThreadedDevChain) -> list[str]:
    from app.dev.devchain.primitives import spk_address

    out = []
    for w in chain.state.wallets:
        out += [a for a in (spk_address(s) for s in w.spks) if a]
    return out


async def test_tx_json_shape(devchain_small: ThreadedDevChain, http: httpx.AsyncClient) -> None:
    addr = devchain_small.info["wallets"][1]["firstAddress"]  # p2sh-p2wpkh
    txs = (await http.get(f"/address/{addr}/txs")).json()
    tx = txs[-1]
    assert set(tx) >= {"txid", "version", "locktime", "vin", "vout", "size", "weight", "fee", "status"}
    vin = tx["vin"][0]
    assert set(vin) >= {"txid", "vout", "prevout", "scriptsig", "scriptsig_asm", "is_coinbase", "sequence"}
    assert set(vin["prevout"]) == {
        "scriptpubkey",
        "scriptpubkey_asm",
        "scriptpubkey_type",
        "scriptpubkey_address",
        "value",
    }
    assert tx["status"]["confirmed"] is True
    assert set(tx["status"]) == {"confirmed", "block_height", "block_hash", "block_time"}
    ours = [o for o in tx["vout"] if o.get("scriptpubkey_address") == addr]
    assert ours and ours[0]["scriptpubkey_type"] == "p2sh"
    assert ours[0]["scriptpubkey_asm"].startswith("OP_HASH160 OP_PUSHBYTES_20 ")
    raw = (await http.get(f"/tx/{tx['txid']}/hex")).text
    assert (await http.get(f"/tx/{tx['txid']}/raw")).content.hex() == raw
    assert (await http.get(f"/tx/{tx['txid']}/status")).json() == tx["status"]
    assert tx["weight"] >= 3 * (len(raw) // 2) // 4
    assert tx["fee"] == sum(i["prevout"]["value"] for i in tx["vin"]) - sum(o["value"] for o in tx["vout"])
    # a p2sh-p2wpkh spend shows its redeem script and witness
    spend = next(
        (t for t in txs if any(i["prevout"] and i["prevout"].get("scriptpubkey_address") == addr for i in t["vin"])),
        None,
    )
    if spend is not None:
        i = next(i for i in spend["vin"] if i["prevout"]["scriptpubkey_address"] == addr)
        assert i["inner_redeemscript_asm"].startswith("OP_0 OP_PUSHBYTES_20")
        assert len(i["witness"]) == 2


async def test_esplora_and_electrum_agree(
    devchain_small: ThreadedDevChain, http: httpx.AsyncClient, electrum_client: Any
) -> None:
    client = await electrum_client(devchain_small)
    seen_txids: set[str] = set()
    for addr in wallet_addresses(devchain_small):
        spk = address_to_spk(addr)
        esh, lsh = esplora_sh(spk), electrum_sh(spk)
        a = (await http.get(f"/address/{addr}")).json()
        assert (await http.get(f"/scripthash/{esh}")).json()["chain_stats"] == a["chain_stats"]
        hist, bal, unspent = await client.batch(
            [
                ("blockchain.scripthash.get_history", [lsh]),
                ("blockchain.scripthash.get_balance", [lsh]),
                ("blockchain.scripthash.listunspent", [lsh]),
            ]
        )
        cs, ms = a["chain_stats"], a["mempool_stats"]
        assert bal == {
            "confirmed": cs["funded_txo_sum"] - cs["spent_txo_sum"],
            "unconfirmed": ms["funded_txo_sum"] - ms["spent_txo_sum"],
        }
        assert len(hist) == cs["tx_count"] + ms["tx_count"]
        seen_txids.update(h["tx_hash"] for h in hist)
        txs = (await http.get(f"/address/{addr}/txs")).json()
        assert {t["txid"] for t in txs} == {h["tx_hash"] for h in hist}
        heights = [h["height"] for h in hist if h["height"] > 0]
        assert heights == sorted(heights)
        for t in txs:
            h = next(h for h in hist if h["tx_hash"] == t["txid"])
            if t["status"]["confirmed"]:
                assert h["height"] == t["status"]["block_height"]
            else:
                assert h["height"] in (0, -1) and h["fee"] == t["fee"]
        utxo = (await http.get(f"/address/{addr}/utxo")).json()
        assert sorted((u["txid"], u["vout"], u["value"]) for u in utxo) == sorted(
            (u["tx_hash"], u["tx_pos"], u["value"]) for u in unspent
        )
    # raw transactions agree
    some = sorted(seen_txids)[:8]
    hexes = await client.batch([("blockchain.transaction.get", [t]) for t in some])
    for txid, hx in zip(some, hexes, strict=True):
        assert (await http.get(f"/tx/{txid}/hex")).text == hx


async def test_status_hash_is_sha256_of_history(devchain_small: ThreadedDevChain, electrum_client: Any) -> None:
    client = await electrum_client(devchain_small)
    spk = address_to_spk(devchain_small.info["wallets"][0]["firstAddress"])
    sh = electrum_sh(spk)
    hist = await client.request("blockchain.scripthash.get_history", sh)
    status = await client.request("blockchain.scripthash.subscribe", sh)
    expect = hashlib.sha256("".join(f"{h['tx_hash']}:{h['height']}:" for h in hist).encode()).hexdigest()
    assert status == expect
    unused = electrum_sh(b"\x00\x14" + b"\x42" * 20)
    assert await client.request("blockchain.scripthash.subscribe", unused) is None


async def test_chain_paging(devchain_small: ThreadedDevChain, http: httpx.AsyncClient) -> None:
    spk = devchain_small.state.faucet_spk  # the faucet has the longest history
    sh = esplora_sh(spk)
    stats = (await http.get(f"/scripthash/{sh}")).json()
    n_conf = stats["chain_stats"]["tx_count"]
    n_mem = stats["mempool_stats"]["tx_count"]
    assert n_conf > 60
    first = (await http.get(f"/scripthash/{sh}/txs")).json()
    assert len(first) == min(n_mem, 50) + 25
    assert all(not t["status"]["confirmed"] for t in first[:n_mem])
    seen = [t["txid"] for t in first[n_mem:]]
    while True:
        page = (await http.get(f"/scripthash/{sh}/txs/chain/{seen[-1]}")).json()
        assert len(page) <= 25
        if not page:
            break
        seen += [t["txid"] for t in page]
    assert len(seen) == len(set(seen)) == n_conf
    chain0 = (await http.get(f"/scripthash/{sh}/txs/chain")).json()
    assert [t["txid"] for t in chain0] == seen[:25]
    heights = [devchain_small.state.chain.confirmed_at[t][0] for t in seen]
    assert heights == sorted(heights, reverse=True)
    mem = (await http.get(f"/scripthash/{sh}/txs/mempool")).json()
    assert len(mem) == n_mem


async def test_merkle_proofs_verify(
    devchain_small: ThreadedDevChain, http: httpx.AsyncClient, electrum_client: Any
) -> None:
    client = await electrum_client(devchain_small)
    tip = int((await http.get("/blocks/tip/height")).text)
    for height in (tip, tip - 3, 101):
        bhash = (await http.get(f"/block-height/{height}")).text
        header = bytes.fromhex((await http.get(f"/block/{bhash}/header")).text)
        root = header[36:68]
        for txid in (await http.get(f"/block/{bhash}/txids")).json():
            proof = (await http.get(f"/tx/{txid}/merkle-proof")).json()
            assert proof["block_height"] == height
            branch = [bytes.fromhex(h)[::-1] for h in proof["merkle"]]
            assert merkle_root_from_branch(bytes.fromhex(txid)[::-1], branch, proof["pos"]) == root
            assert await client.request("blockchain.transaction.get_merkle", txid, height) == proof
        assert await client.request("blockchain.block.header", height) == header.hex()


async def test_blocks_endpoints(
    devchain_small: ThreadedDevChain, http: httpx.AsyncClient, electrum_client: Any
) -> None:
    tip = int((await http.get("/blocks/tip/height")).text)
    tip_hash = (await http.get("/blocks/tip/hash")).text
    blocks = (await http.get("/blocks")).json()
    assert len(blocks) == 10 and blocks[0]["id"] == tip_hash and blocks[0]["height"] == tip
    assert [b["height"] for b in blocks] == list(range(tip, tip - 10, -1))
    assert blocks[0]["previousblockhash"] == blocks[1]["id"]
    older = (await http.get("/blocks/5")).json()
    assert [b["height"] for b in older] == [5, 4, 3, 2, 1, 0]
    assert (await http.get(f"/block/{tip_hash}/status")).json() == {
        "in_best_chain": True,
        "height": tip,
        "next_best": None,
    }
    big_block = next(b for b in blocks if b["tx_count"] > 1)
    txs = (await http.get(f"/block/{big_block['id']}/txs")).json()
    assert txs[0]["vin"][0]["is_coinbase"] is True
    assert [t["txid"] for t in txs] == (await http.get(f"/block/{big_block['id']}/txids")).json()[:25]
    raw = (await http.get(f"/block/{big_block['id']}/raw")).content
    assert hashlib.sha256(hashlib.sha256(raw[:80]).digest()).digest()[::-1].hex() == big_block["id"]
    fees = (await http.get("/fee-estimates")).json()
    assert {"1", "6", "144", "1008"} <= set(fees)
    client = await electrum_client(devchain_small)
    hdrs = await client.request("blockchain.block.headers", tip - 4, 10)
    assert hdrs["count"] == 5 and hdrs["max"] == 2016
    assert hdrs["hex"][-160:] == (await http.get(f"/block/{tip_hash}/header")).text


async def test_esplora_errors(http: httpx.AsyncClient) -> None:
    r = await http.get("/tx/nothex")
    assert (r.status_code, r.text) == (400, "Invalid hex string")
    r = await http.get("/tx/" + "ab" * 32)
    assert (r.status_code, r.text) == (404, "Transaction not found")
    r = await http.get("/block/" + "ab" * 32)
    assert r.status_code == 404
    r = await http.get("/block-height/999999")
    assert (r.status_code, r.text) == (404, "Block not found")
    r = await http.get("/address/notanaddress")
    assert r.status_code == 400
    r = await http.get("/address/bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")  # mainnet
    assert (r.status_code, r.text) == (400, "Address on invalid network")
    r = await http.get("/scripthash/xyz/txs")
    assert (r.status_code, r.text) == (400, "Invalid scripthash")
    r = await http.post("/tx", content="zz")
    assert r.status_code == 400 and r.text.startswith("sendrawtransaction RPC error:")
    r = await http.post("/tx", content="0200000001")
    assert r.status_code == 400 and '"code":-22' in r.text
    r = await http.get("/nope")
    assert r.status_code == 404


async def test_post_tx_rejects_spent_inputs(devchain_small: ThreadedDevChain, http: httpx.AsyncClient) -> None:
    # re-broadcast of a confirmed transaction
    bhash = (await http.get("/block-height/110")).text
    txid = (await http.get(f"/block/{bhash}/txid/1")).text
    raw = (await http.get(f"/tx/{txid}/hex")).text
    r = await http.post("/tx", content=raw)
    assert r.status_code == 400
    assert r.text.startswith('sendrawtransaction RPC error: {"code":-27')


async def test_electrum_errors_and_batches(devchain_small: ThreadedDevChain, electrum_client: Any) -> None:
    client = await electrum_client(devchain_small)
    r = await client.send_raw(b"{not json")
    assert r["error"]["code"] == -32700 and r["id"] is None
    r = await client.send_raw(b'{"jsonrpc":"2.0","id":7,"method":"blockchain.nope","params":[]}')
    assert r["error"]["code"] == -32601 and r["id"] == 7
    r = await client.send_raw(b'{"jsonrpc":"2.0","id":8,"method":"blockchain.scripthash.get_history","params":["xx"]}')
    assert r["error"]["code"] == 1 and r["id"] == 8
    r = await client.send_raw(b'{"jsonrpc":"2.0","id":9,"method":"blockchain.block.header","params":[]}')
    assert r["error"]["code"] == -32602
    r = await client.send_raw(
        b'{"jsonrpc":"2.0","id":10,"method":"blockchain.transaction.get","params":["' + b"ab" * 32 + b'"]}'
    )
    assert r["error"]["code"] == 2
    r = await client.send_raw(b'{"jsonrpc":"2.0","id":11,"method":"blockchain.transaction.broadcast","params":["00"]}')
    assert r["error"]["code"] == 1 and "rejected" in r["error"]["message"]
    r = await client.send_raw(b'{"jsonrpc":"2.0","id":12,"method":"server.version","params":["x",["1.0","1.2"]]}')
    assert "error" in r
    batch = await client.send_raw(
        b'[{"jsonrpc":"2.0","id":1,"method":"server.ping","params":[]},'
        b'{"jsonrpc":"2.0","id":2,"method":"nope","params":[]},'
        b'{"jsonrpc":"2.0","id":3,"method":"blockchain.relayfee","params":[]}]'
    )
    assert [b["id"] for b in batch] == [1, 2, 3]
    assert batch[0]["result"] is None and batch[1]["error"]["code"] == -32601 and batch[2]["result"] == 0.00001
    assert isinstance(await client.request("blockchain.estimatefee", 2), float)
    assert (await client.request("server.features"))["genesis_hash"] == devchain_small.info["genesisHash"]


async def test_electrum_tls(devchain_small: ThreadedDevChain, electrum_client: Any) -> None:
    client = await electrum_client(devchain_small, tls=True)
    assert (await client.request("server.version", "t", "1.4"))[1] == "1.4"
    tip = await client.request("blockchain.headers.subscribe")
    assert tip["height"] == devchain_small.info["tip"]["height"]


async def test_header_checkpoint_proof(devchain_small: ThreadedDevChain, electrum_client: Any) -> None:
    client = await electrum_client(devchain_small)
    cp = devchain_small.info["tip"]["height"] - 2
    for height in (0, 57, cp):
        res = await client.request("blockchain.block.header", height, cp)
        header = bytes.fromhex(res["header"])
        leaf = hashlib.sha256(hashlib.sha256(header).digest()).digest()
        branch = [bytes.fromhex(b)[::-1] for b in res["branch"]]
        assert merkle_root_from_branch(leaf, branch, height)[::-1].hex() == res["root"]
    hdrs = await client.request("blockchain.block.headers", 10, 5, cp)
    assert hdrs["count"] == 5 and hdrs["root"] == res["root"]
    r = await client.send_raw(b'{"jsonrpc":"2.0","id":5,"method":"blockchain.block.header","params":[10,5]}')
    assert r["error"]["code"] == 1


async def test_outspends(devchain_small: ThreadedDevChain, http: httpx.AsyncClient) -> None:
    ch = devchain_small.state.chain
    bhash = (await http.get("/block-height/105")).text
    txid = (await http.get(f"/block/{bhash}/txid/1")).text
    outspends = (await http.get(f"/tx/{txid}/outspends")).json()
    tx = (await http.get(f"/tx/{txid}")).json()
    assert len(outspends) == len(tx["vout"])
    for n, o in enumerate(outspends):
        sp = ch.spender(txid, n)
        if sp is None:
            assert o == {"spent": False}
        else:
            assert o["spent"] and o["txid"] == sp[0] and o["vin"] == sp[1]
            spender = (await http.get(f"/tx/{sp[0]}")).json()
            assert spender["vin"][sp[1]]["txid"] == txid and spender["vin"][sp[1]]["vout"] == n
            assert o["status"] == spender["status"]
        assert (await http.get(f"/tx/{txid}/outspend/{n}")).json() == o
    assert any(o["spent"] for o in outspends)
