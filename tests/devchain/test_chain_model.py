"""The chain model without servers: block validity, signatures, expected balances recomputed
independently (embit descriptors + raw block parsing), determinism, reorg, replacement."""

from __future__ import annotations

import io
from typing import Any

import pytest
from embit.descriptor import Descriptor
from embit.transaction import Transaction

from app.dev.devchain.builder import verify_input
from app.dev.devchain.chain import GENESIS_HASH, RejectError
from app.dev.devchain.primitives import (
    REGTEST_BITS,
    TxOut,
    block_subsidy,
    check_pow,
    merkle_root,
    parse_tx,
    script_type,
    sha256d,
)
from app.dev.devchain.runner import DevChain
from app.dev.devchain.state import ScenarioError

PRICE_HISTORY_START = 1313625600  # 2011-08-18
PRICE_HISTORY_END = 1758672000  # 2025-09-24


@pytest.fixture(scope="module")
def small() -> DevChain:
    return DevChain.build("small", seed=1)


def _parse_block(raw: bytes) -> tuple[bytes, list[Transaction]]:
    s = io.BytesIO(raw)
    header = s.read(80)
    n = s.read(1)[0]
    assert n < 0xFD
    txs = [Transaction.read_from(s) for _ in range(n)]
    assert s.read() == b""
    return header, txs


def _raw_block(dc: DevChain, bhash: str) -> bytes:
    ch = dc.state.chain
    txs = ch.block_txs[bhash]
    return ch.blocks[bhash].header_raw + bytes([len(txs)]) + b"".join(t.raw for t in txs)


def _recompute(dc: DevChain, wallet: dict[str, Any]) -> dict[str, int]:
    """Independent recomputation: spks from the printed descriptors (embit), txs parsed from raw blocks."""
    spks: set[bytes] = set()
    used = wallet["usedAddresses"]
    for _chain_idx, key in ((0, "receive"), (1, "change")):
        desc = Descriptor.from_string(wallet["descriptors"][key].split("#")[0])
        for i in range(used[key] + 20):
            spks.add(desc.derive(i).script_pubkey().data)
    funded: dict[tuple[str, int], tuple[int, bool]] = {}
    spent: dict[tuple[str, int], bool] = {}
    txids: set[str] = set()
    ch = dc.state.chain

    def scan(etx: Transaction, confirmed: bool) -> None:
        txid = etx.txid().hex()
        hit = False
        for inp in etx.vin:
            key = (inp.txid.hex(), inp.vout)
            if key in funded:
                spent[key] = confirmed
                hit = True
        for n, out in enumerate(etx.vout):
            if out.script_pubkey.data in spks:
                funded[(txid, n)] = (out.value, confirmed)
                hit = True
        if hit:
            txids.add(txid)

    for bhash in ch.active[1:]:
        _h, txs = _parse_block(_raw_block(dc, bhash))
        for etx in txs:
            scan(etx, True)
    for tx in ch.topo_mempool():
        scan(Transaction.parse(tx.raw), False)
    confirmed = unconfirmed = utxos = 0
    for key, (value, conf) in funded.items():
        if conf:
            confirmed += value
        else:
            unconfirmed += value
        if key not in spent:
            utxos += 1
        elif spent[key]:
            confirmed -= value
        else:
            unconfirmed -= value
    return {"confirmed": confirmed, "unconfirmed": unconfirmed, "txCount": len(txids), "utxoCount": utxos}


@pytest.mark.parametrize("scenario", ["small", "reorg", "rbf", "gap"])
def test_expected_balances_match_independent_recomputation(scenario: str) -> None:
    dc = DevChain.build(scenario, seed=1)
    info = dc.info
    assert info["network"] == "regtest"
    for w in info["wallets"]:
        again = _recompute(dc, w)
        printed = {k: w["expected"][k] for k in again}
        initial = {k: dc.initial_expected[w["name"]][k] for k in again}
        assert printed == again, w["name"]
        assert initial == again, w["name"]
        assert w["descriptor"].split("#")[1] and len(w["descriptor"].split("#")[1]) == 8
        assert w["origin"].startswith("[") and w["xpub"].startswith("tpub")


def test_small_scenario_covers_the_promised_features(small: DevChain) -> None:
    info = small.info
    kinds = {w["scriptType"] for w in info["wallets"]}
    assert kinds == {"p2wpkh", "p2sh-p2wpkh", "p2pkh", "p2tr", "p2wsh-multi"}
    total = sum(w["expected"]["txCount"] for w in info["wallets"])
    assert 90 <= total <= 250
    ch = small.state.chain
    # every script type is also spent, and every signature verifies
    spent_types = set()
    for tx in ch.txs.values():
        if tx.is_coinbase:
            continue
        prevouts = [ch.prevout(i) for i in tx.vin]
        assert all(p is not None for p in prevouts)
        for n in range(len(tx.vin)):
            spent_types.add(script_type(prevouts[n].spk))  # type: ignore[union-attr]
            assert verify_input(tx, n, prevouts), tx.txid  # type: ignore[arg-type]
        assert tx.fee > 0
    assert {"p2pkh", "p2sh", "v0_p2wpkh", "v0_p2wsh", "v1_p2tr"} <= spent_types
    # a mempool with a chain of unconfirmed transactions
    assert len(ch.mempool) >= 3
    assert any(ch.mempool_ancestors_unconfirmed(t) for t in ch.mempool_in_order())
    # address reuse: some wallet address received more than once
    funded_count: dict[bytes, int] = {}
    owned = {spk for w in small.state.wallets for spk in w.spks}
    for tx in ch.txs.values():
        for o in tx.vout:
            if o.spk in owned:
                funded_count[o.spk] = funded_count.get(o.spk, 0) + 1
    assert max(funded_count.values()) >= 2
    # dust received
    assert any(o.value < 1000 for tx in ch.txs.values() for o in tx.vout if o.spk in owned)


def test_blocks_are_valid_regtest_blocks(small: DevChain) -> None:
    ch = small.state.chain
    assert ch.active[0] == GENESIS_HASH
    prev_time = 0
    for height, bhash in enumerate(ch.active):
        raw = _raw_block(small, bhash)
        header, txs = _parse_block(raw)
        assert sha256d(header)[::-1].hex() == bhash
        assert check_pow(header, REGTEST_BITS)
        assert int.from_bytes(header[72:76], "little") == REGTEST_BITS
        if height:
            assert header[4:36][::-1].hex() == ch.active[height - 1]
            time = int.from_bytes(header[68:72], "little")
            assert time > prev_time
            assert PRICE_HISTORY_START <= time <= PRICE_HISTORY_END
            prev_time = time
        root = merkle_root([tx.txid()[::-1] for tx in txs])
        assert header[36:68] == root
        if height == 0:
            continue
        cb = txs[0]
        assert cb.vin[0].txid == b"\x00" * 32 and cb.vin[0].vout == 0xFFFFFFFF
        # BIP34: the coinbase starts with the height
        ss = cb.vin[0].script_sig.data
        if height <= 16:
            assert ss[0] == 0x50 + height
        else:
            ln = ss[0]
            assert int.from_bytes(ss[1 : 1 + ln], "little") == height
        fees = sum(ch.txs[t.txid().hex()].fee for t in txs[1:])
        assert cb.vout[0].value == block_subsidy(height) + fees
        # witness commitment
        wtxids = [b"\x00" * 32] + [sha256d(t.serialize()) for t in txs[1:]]
        commitment = sha256d(merkle_root(wtxids) + b"\x00" * 32)
        assert cb.vout[1].script_pubkey.data == b"\x6a\x24\xaa\x21\xa9\xed" + commitment
        # coinbase maturity: every spent coinbase is >= 100 blocks deep at the spend
        for etx in txs[1:]:
            for inp in etx.vin:
                parent = ch.txs[inp.txid.hex()]
                if parent.is_coinbase:
                    assert height - ch.confirmed_at[parent.txid][0] >= 100


def test_generation_is_deterministic() -> None:
    a = DevChain.build("small", seed=7)
    b = DevChain.build("small", seed=7)
    c = DevChain.build("small", seed=8)
    assert a.state.chain.tip.hash == b.state.chain.tip.hash
    assert a.info["wallets"] == b.info["wallets"]
    assert a.state.chain.tip.hash != c.state.chain.tip.hash
    assert a.info["wallets"][0]["xpub"] != c.info["wallets"][0]["xpub"]


def test_cache_roundtrip(tmp_path: Any) -> None:
    a = DevChain.build("rbf", seed=3, data_dir=tmp_path)
    b = DevChain.build("rbf", seed=3, data_dir=tmp_path)
    assert not a.from_cache and b.from_cache
    assert a.info["wallets"] == b.info["wallets"]
    assert a.state.chain.tip.hash == b.state.chain.tip.hash


def test_unknown_scenario() -> None:
    with pytest.raises(ScenarioError):
        DevChain.build("nope", seed=1)


async def test_reorg_drops_and_moves_transactions() -> None:
    dc = DevChain.build("reorg", seed=1)
    ch = dc.state.chain
    old_height = ch.height
    old_blocks = list(ch.active[-3:])
    old_loc = {t: ch.confirmed_at[t] for b in old_blocks for t in ch.blocks[b].txids[1:]}
    result = await dc.reorg(3)
    assert ch.height == old_height + 1
    assert all(not ch.in_best_chain(b) for b in old_blocks)
    assert result["dropped"], "a wallet payment is double-spent away"
    for txid in result["dropped"]:
        assert ch.get_tx(txid) is None
    assert ch.status(result["conflict"]).confirmed
    moved = [
        t for t in old_loc if t not in result["dropped"] and ch.status(t).confirmed and ch.confirmed_at[t] != old_loc[t]
    ]
    assert moved, "re-mined transactions sit at other heights/positions"
    if result["unconfirmed"]:
        assert result["unconfirmed"] in ch.mempool
    for w in dc.info["wallets"]:
        again = _recompute(dc, w)
        assert {k: w["expected"][k] for k in again} == again


async def test_replace_bumps_fee_and_evicts_original() -> None:
    dc = DevChain.build("rbf", seed=1)
    ch = dc.state.chain
    old = dc.state.meta["replaceable"]
    assert isinstance(old, str)
    old_fee = ch.txs[old].fee
    before = dc.expected("bob")
    new = await dc.replace()
    assert old not in ch.txs and new in ch.mempool
    assert ch.txs[new].fee > old_fee
    assert {(i.txid, i.vout) for i in ch.txs[new].vin}
    # bob still expects his incoming payment (the bump came out of alice's change)
    assert dc.expected("bob") == before
    with pytest.raises(ScenarioError):
        await dc.replace(old)


async def test_mempool_policy_rejections() -> None:
    dc = DevChain.build("small", seed=1)
    st = dc.state
    ch = st.chain
    # double spend of a confirmed-spent output
    txid = await dc.send(dc.info["wallets"][0]["firstAddress"], 50_000)
    tx = ch.txs[txid]
    with pytest.raises(RejectError, match="txn-already-in-mempool"):
        ch.accept(parse_tx(tx.raw))
    # a non-RBF conflict is refused
    from app.dev.devchain.builder import Coin, build_and_sign

    prev = ch.prevout(tx.vin[0])
    assert prev is not None
    coin = Coin(tx.vin[0].txid, tx.vin[0].vout, prev.value, prev.spk)
    low = build_and_sign([coin], [st.faucet], [TxOut(prev.value - 200, st.faucet_spk)])
    with pytest.raises(RejectError, match="insufficient fee"):
        ch.accept(low)
    # spending more than the inputs
    greedy = build_and_sign([coin], [st.faucet], [TxOut(prev.value + 1, st.faucet_spk)])
    with pytest.raises(RejectError, match="bad-txns-in-belowout"):
        ch.accept(greedy)
    # an immature coinbase
    cb = ch.txs[ch.tip.txids[0]]
    immature = build_and_sign(
        [Coin(cb.txid, 0, cb.vout[0].value, cb.vout[0].spk)], [st.faucet], [TxOut(1000, st.faucet_spk)]
    )
    with pytest.raises(RejectError, match="premature-spend-of-coinbase"):
        ch.accept(immature)
    # a bad signature (signed with someone else's key)
    other = st.keys[next(iter(st.wallets[0].spks))]
    forged = build_and_sign([coin], [other], [TxOut(prev.value - 5000, st.faucet_spk)], rbf=True)
    with pytest.raises(RejectError, match="mandatory-script-verify-flag-failed"):
        ch.accept(forged)


async def test_mempool_enforces_relative_and_absolute_lock_times() -> None:
    """BIP-68 relative lock times (height and 512-second units, bit 31 disabling them) and BIP-65/113
    lock times against the tip's median time past: an early spend is refused, the same spend is
    accepted once the lock is met."""
    from app.dev.devchain.builder import Coin, build_and_sign

    dc = DevChain.build("small", seed=1)
    st, ch = dc.state, dc.state.chain

    def coin() -> Coin:
        tx = st.send(st.faucet_spk, 60_000)
        return Coin(tx.txid, 0, 60_000, st.faucet_spk)

    def spend(c: Coin, **kw: Any) -> Any:
        return build_and_sign([c], [st.faucet], [TxOut(59_000, st.faucet_spk)], **kw)

    by_height, by_time, disabled = coin(), coin(), coin()
    st.mine(1)  # one confirmation each
    with pytest.raises(RejectError, match="non-BIP68-final"):
        ch.accept(spend(by_height, sequence=3))

    def elapsed() -> int:  # median time past since the block before the coin's
        return ch.median_time_past(ch.height) - ch.median_time_past(ch.confirmed_at[by_time.txid][0] - 1)

    units = elapsed() // 512 + 1  # one 512-second unit more than has passed
    time_seq = (1 << 22) | units
    with pytest.raises(RejectError, match="non-BIP68-final"):
        ch.accept(spend(by_time, sequence=time_seq))
    ch.accept(spend(disabled, sequence=(1 << 31) | 50))  # bit 31: no relative lock
    st.mine(1)
    with pytest.raises(RejectError, match="non-BIP68-final"):
        ch.accept(spend(by_height, sequence=3))  # two confirmations
    st.mine(1)
    ch.accept(spend(by_height, sequence=3))  # three
    for _ in range(20):
        if elapsed() >= units * 512:
            break
        with pytest.raises(RejectError, match="non-BIP68-final"):
            ch.accept(spend(by_time, sequence=time_seq))
        st.mine(1)
    ch.accept(spend(by_time, sequence=time_seq))

    # absolute: the next block must be above a height lock; a time lock below the tip's MTP
    late, timed = coin(), coin()
    st.mine(1)
    with pytest.raises(RejectError, match="non-final"):
        ch.accept(spend(late, rbf=True, locktime=ch.height + 1))
    ch.accept(spend(late, rbf=True, locktime=ch.height))
    mtp = ch.median_time_past(ch.height)
    assert mtp < ch.tip.time  # BIP-113: the median, not the tip's own time
    with pytest.raises(RejectError, match="non-final"):
        ch.accept(spend(timed, rbf=True, locktime=mtp))
    ch.accept(spend(timed, rbf=True, locktime=mtp - 1))
