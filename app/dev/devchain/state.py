"""DevState: a chain plus the keys of everyone in the scenario, and the operations on it
(funded payments, mining, fee bumps, reorgs) shared by scenario generation and live control.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from app.dev.devchain.builder import (
    Coin,
    KeyInfo,
    Wallet,
    build_and_sign,
    estimate_vsize,
    keyinfo_spk,
    single_key_info,
)
from app.dev.devchain.chain import Chain, ChainEvent, RejectError
from app.dev.devchain.primitives import (
    COINBASE_MATURITY,
    Tx,
    TxOut,
    scripthash,
    sha256,
)

DUST = 546


class ScenarioError(Exception):
    pass


@dataclass
class DevState:
    scenario: str
    seed: int
    chain: Chain
    wallets: list[Wallet]
    faucet: KeyInfo
    faucet_spk: bytes
    keys: dict[bytes, KeyInfo] = field(default_factory=dict)  # everything we can sign for
    owner: dict[bytes, str] = field(default_factory=dict)  # spk -> wallet name / "faucet"
    meta: dict[str, object] = field(default_factory=dict)
    live_counter: int = 0

    @classmethod
    def new(cls, scenario: str, seed: int, wallets: list[Wallet]) -> DevState:
        secret = sha256(f"mbf-devchain/{scenario}/{seed}/faucet".encode())
        faucet = single_key_info("p2wpkh", secret)
        spk = keyinfo_spk(faucet)
        st = cls(scenario, seed, Chain(), wallets, faucet, spk)
        st.keys[spk] = faucet
        st.owner[spk] = "faucet"
        return st

    def register_wallet_keys(self) -> None:
        for w in self.wallets:
            for spk, info in w.keys.items():
                self.keys[spk] = info
                self.owner[spk] = w.name

    def wallet(self, name: str) -> Wallet:
        for w in self.wallets:
            if w.name == name:
                return w
        raise ScenarioError(f"unknown wallet {name}")

    # ------------------------------------------------------------ live operations

    def faucet_utxos(self) -> list[Coin]:
        """Spendable faucet coins from the chain (mature coinbases, confirmed and mempool change)."""
        ch = self.chain
        conf, mem = ch.history(scripthash(self.faucet_spk))
        coins: list[Coin] = []
        for tx in conf + mem:
            if tx.is_coinbase:
                loc = ch.confirmed_at[tx.txid]
                if ch.height + 1 - loc[0] < COINBASE_MATURITY:
                    continue
            for n, o in enumerate(tx.vout):
                if o.spk == self.faucet_spk and ch.spender(tx.txid, n) is None:
                    coins.append(Coin(tx.txid, n, o.value, o.spk))
        return coins

    def live_rng(self) -> random.Random:
        self.live_counter += 1
        return random.Random(f"{self.scenario}/{self.seed}/live/{self.live_counter}")

    def send(self, spk: bytes, sats: int, feerate: int = 5) -> Tx:
        """A faucet-funded payment to `spk`, accepted into the mempool with full validation."""
        if sats < 1:
            raise ScenarioError("amount must be positive")
        coins = sorted(self.faucet_utxos(), key=lambda c: -c.value)
        picked: list[Coin] = []
        total = 0
        for c in coins:
            picked.append(c)
            total += c.value
            fee = estimate_vsize(["p2wpkh"] * len(picked), [spk, self.faucet_spk]) * feerate
            if total >= sats + fee + DUST:
                break
        else:
            raise ScenarioError("the faucet has no funds for this payment")
        outs = [TxOut(sats, spk), TxOut(total - sats - fee, self.faucet_spk)]
        tx = build_and_sign(picked, [self.faucet] * len(picked), outs, rbf=True)
        self.chain.accept(tx)
        return tx

    def replace(self, txid: str, feerate_bump: int = 0) -> Tx:
        """BIP125 fee bump of a mempool transaction whose inputs we can sign."""
        ch = self.chain
        old = ch.txs.get(txid)
        if old is None or txid not in ch.mempool:
            raise ScenarioError("transaction is not in the mempool")
        coins: list[Coin] = []
        infos: list[KeyInfo] = []
        for inp in old.vin:
            p = ch.prevout(inp)
            if p is None or p.spk not in self.keys:
                raise ScenarioError("cannot sign an input of this transaction")
            coins.append(Coin(inp.txid, inp.vout, p.value, p.spk))
            infos.append(self.keys[p.spk])
        replaced_fees = old.fee + sum(ch.txs[d].fee for d in ch.mempool_descendants(txid))
        new_rate = max(feerate_bump, (old.fee // max(old.vsize, 1)) * 2 + 2)
        new_fee = max(new_rate * old.vsize + 10, replaced_fees + old.vsize + 10)
        extra = new_fee - old.fee
        outs = [TxOut(o.value, o.spk) for o in old.vout]
        # take the extra fee from our change (an output we own), else from the largest output
        payers = {self.owner.get(c.spk) for c in coins}
        idx = next(
            (i for i, o in enumerate(outs) if self.owner.get(o.spk) in payers and o.value - extra >= DUST),
            None,
        )
        if idx is None:
            idx = max(range(len(outs)), key=lambda i: outs[i].value)
        if outs[idx].value - extra < DUST:
            raise ScenarioError("not enough value to bump the fee")
        outs[idx] = TxOut(outs[idx].value - extra, outs[idx].spk)
        new = build_and_sign(coins, infos, outs, rbf=True)
        ch.accept(new)
        return new

    def mine(self, n: int = 1, time: int | None = None) -> list[str]:
        """Mine n blocks including all mempool txs (parents first). Emits one event."""
        ch = self.chain
        hashes: list[str] = []
        touched: set[str] = set()
        for _ in range(n):
            txs = ch.topo_mempool()
            t = time if time is not None else ch.tip.time + 600
            t = max(t, ch.tip.time + 1)
            block, all_txs = ch.build_block(txs, t, self.faucet_spk)
            touched |= ch.connect_block(block, all_txs)
            hashes.append(block.hash)
            time = None
        ch.emit(ChainEvent("block", touched))
        return hashes

    def reorg(self, depth: int = 3, drop: bool = True) -> dict[str, object]:
        """Replace the last `depth` blocks by `depth + 1` new ones.

        Transactions of the old blocks are re-mined in a different order and at other heights;
        with `drop`, one faucet payment to a scenario wallet is double-spent by the faucet, so it
        (and whatever spends it) disappears. The last re-mined transaction is left in the mempool.
        """
        ch = self.chain
        if depth < 1 or depth >= ch.height:
            raise ScenarioError("bad reorg depth")
        rng = random.Random(f"{self.scenario}/{self.seed}/reorg/{ch.height}")
        old_times = [ch.blocks[h].time for h in ch.active[-depth:]]
        old_hashes = list(ch.active[-depth:])
        mempool_before = set(ch.mempool)
        touched: set[str] = set()
        disconnected: list[Tx] = []
        for _ in range(depth):
            _b, txs, sh_touched = ch.disconnect_tip()
            touched |= sh_touched
            disconnected = txs[1:] + disconnected
        dropped: list[str] = []
        conflict: Tx | None = None
        if drop:
            for tx in disconnected:
                prev = [ch.prevout(i) for i in tx.vin]
                if all(p is not None and p.spk == self.faucet_spk for p in prev) and any(
                    o.spk in self.owner and self.owner[o.spk] != "faucet" for o in tx.vout
                ):
                    coins = [
                        Coin(i.txid, i.vout, p.value, p.spk) for i, p in zip(tx.vin, prev, strict=True) if p is not None
                    ]
                    total = sum(c.value for c in coins)
                    fee = estimate_vsize(["p2wpkh"] * len(coins), [self.faucet_spk]) * 3
                    conflict = build_and_sign(coins, [self.faucet] * len(coins), [TxOut(total - fee, self.faucet_spk)])
                    dropped = [tx.txid, *ch.mempool_descendants(tx.txid)]
                    touched |= ch.remove_mempool_tx(tx.txid, recursive=True)
                    break
        # re-mine: first block holds only the conflict (if any); the rest get a shuffled topo order
        remaining = [t for t in ch.topo_mempool() if t.txid not in mempool_before]
        order = _shuffled_topo(remaining, rng)
        keep_unconfirmed = None
        if order:
            last = order[-1]
            if not any(i.txid == last.txid for t in order for i in t.vin):
                keep_unconfirmed = last
                order = order[:-1]
        chunks: list[list[Tx]] = [[] for _ in range(depth)]
        for k, tx in enumerate(order):
            chunks[min(depth - 1, k * depth // max(len(order), 1))].append(tx)
        times = [*old_times, old_times[-1] + 600]
        new_hashes: list[str] = []
        plan: list[list[Tx]] = [[conflict] if conflict else [], *chunks]
        for i, txs in enumerate(plan):
            for tx in txs:
                if tx.txid not in ch.txs:
                    touched |= ch.add_mempool_unchecked(tx)
            t = max(times[i], ch.tip.time + 1)
            block, all_txs = ch.build_block(txs, t, self.faucet_spk)
            touched |= ch.connect_block(block, all_txs)
            new_hashes.append(block.hash)
        ch.emit(ChainEvent("reorg", touched))
        return {
            "depth": depth,
            "oldBlocks": old_hashes,
            "newBlocks": new_hashes,
            "dropped": dropped,
            "conflict": conflict.txid if conflict else None,
            "unconfirmed": keep_unconfirmed.txid if keep_unconfirmed else None,
        }


def _shuffled_topo(txs: list[Tx], rng: random.Random) -> list[Tx]:
    ids = {t.txid for t in txs}
    deps = {t.txid: {i.txid for i in t.vin if i.txid in ids} for t in txs}
    by_id = {t.txid: t for t in txs}
    order: list[Tx] = []
    ready = [t for t in deps if not deps[t]]
    done: set[str] = set()
    while ready:
        rng.shuffle(ready)
        t = ready.pop()
        done.add(t)
        order.append(by_id[t])
        for other, d in deps.items():
            if other not in done and other not in ready and t in d and d <= done:
                ready.append(other)
    if len(order) != len(txs):
        raise RejectError(-26, "cycle")
    return order
