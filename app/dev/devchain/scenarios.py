"""Scenario generation: deterministic from (scenario, seed).

A `Sim` drives a `DevState`: it tracks every party's coins itself (its own ledger, independent of
the chain's script-hash index), builds and signs payments, and mines blocks with timestamps spread
over 2012..2025-09 (inside the bundled BTC/USD price history).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from app.dev.devchain.builder import Coin, Wallet, build_and_sign, estimate_vsize, keyinfo_spk
from app.dev.devchain.primitives import COIN, COINBASE_MATURITY, Tx, TxOut
from app.dev.devchain.state import DUST, DevState, ScenarioError

T_START = 1325376000  # 2012-01-01
T_ACTIVITY = 1326585600  # 2012-01-15
T_END = 1757894400  # 2025-09-15

SCENARIOS = ("small", "big", "reorg", "rbf", "gap")


@dataclass(slots=True)
class OwnedOutput:
    """An output the simulation paid to one of its wallets, and the tx that spent it (if any)."""

    wallet: str
    txid: str
    vout: int
    value: int
    spent_by: str | None = None


class Sim:
    def __init__(self, st: DevState, rng: random.Random) -> None:
        self.st = st
        self.rng = rng
        self.coins: dict[str, dict[tuple[str, int], Coin]] = {w.name: {} for w in st.wallets}
        self.coins["faucet"] = {}
        # coins of unconfirmed txs, per owner, and which owners' coins each unconfirmed tx created
        self.pending: dict[str, dict[tuple[str, int], Coin]] = {name: {} for name in self.coins}
        self.pending_by_tx: dict[str, list[tuple[str, tuple[str, int]]]] = {}
        self.receive_used: dict[str, list[bytes]] = {w.name: [] for w in st.wallets}
        self.unconfirmed: set[str] = set()
        self.immature: list[tuple[int, Coin]] = []
        self.ledger: dict[tuple[str, int], OwnedOutput] = {}
        self.wallet_txs: dict[str, set[str]] = {w.name: set() for w in st.wallets}
        self._ext = 0

    # ---------------------------------------------------------------- addresses

    def addr(self, w: Wallet, chain: int = 0) -> bytes:
        spk = w.new_address(chain)
        self.st.keys[spk] = w.keys[spk]
        self.st.owner[spk] = w.name
        if chain == 0:
            self.receive_used[w.name].append(spk)
        return spk

    def addr_at(self, w: Wallet, index: int) -> bytes:
        """Hand out receive address ``index`` (skipping the ones before it, left unused)."""
        w.next_index[0] = max(w.next_index[0], index + 1)
        spk = w.derive(0, index)
        self.st.keys[spk] = w.keys[spk]
        self.st.owner[spk] = w.name
        self.receive_used[w.name].append(spk)
        return spk

    def reuse(self, w: Wallet) -> bytes:
        used = self.receive_used[w.name]
        if not used:
            return self.addr(w)
        return self.rng.choice(used)

    def external(self) -> bytes:
        self._ext += 1
        h = self.rng.randbytes(32)
        kind = self._ext % 4
        if kind == 0:
            return b"\x00\x14" + h[:20]
        if kind == 1:
            return b"\x51\x20" + h
        if kind == 2:
            return b"\xa9\x14" + h[:20] + b"\x87"
        return b"\x76\xa9\x14" + h[:20] + b"\x88\xac"

    # ---------------------------------------------------------------- coins

    def spendable(self, name: str, allow_unconfirmed: bool = False) -> list[Coin]:
        coins = list(self.coins[name].values())
        if allow_unconfirmed:
            coins += self.pending[name].values()
        return coins

    def submit(self, tx: Tx) -> Tx:
        st = self.st
        st.chain.add_mempool_unchecked(tx)
        self.unconfirmed.add(tx.txid)
        for inp in tx.vin:
            key = (inp.txid, inp.vout)
            owner = None
            for name in self.coins:
                if key in self.coins[name]:
                    del self.coins[name][key]
                    owner = name
                    break
                if key in self.pending[name]:
                    del self.pending[name][key]
                    owner = name
                    break
            if owner is not None and owner != "faucet":
                self.wallet_txs[owner].add(tx.txid)
            entry = self.ledger.get(key)
            if entry is not None:
                entry.spent_by = tx.txid
        for n, o in enumerate(tx.vout):
            owner = st.owner.get(o.spk)
            if owner is None:
                continue
            self.pending[owner][(tx.txid, n)] = Coin(tx.txid, n, o.value, o.spk)
            self.pending_by_tx.setdefault(tx.txid, []).append((owner, (tx.txid, n)))
            if owner != "faucet":
                self.wallet_txs[owner].add(tx.txid)
                self.ledger[(tx.txid, n)] = OwnedOutput(owner, tx.txid, n, o.value)
        return tx

    def mine(self, time: int) -> None:
        st = self.st
        st.mine(1, time)
        tip = st.chain.tip
        cb_txid = tip.txids[0]
        cb = st.chain.txs[cb_txid]
        self.immature.append((tip.height, Coin(cb_txid, 0, cb.vout[0].value, cb.vout[0].spk)))
        for txid in tip.txids:
            self.unconfirmed.discard(txid)
            for owner, key in self.pending_by_tx.pop(txid, []):
                coin = self.pending[owner].pop(key, None)
                if coin is not None:
                    self.coins[owner][key] = coin
        next_height = tip.height + 1
        while self.immature and next_height - self.immature[0][0] >= COINBASE_MATURITY:
            _h, coin = self.immature.pop(0)
            self.coins["faucet"][(coin.txid, coin.vout)] = coin

    # ---------------------------------------------------------------- payments

    def pay(
        self,
        payer: str,
        outs: list[TxOut],
        feerate: float = 3.0,
        rbf: bool = False,
        allow_unconfirmed: bool = False,
        coins: list[Coin] | None = None,
        change: bool = True,
    ) -> Tx:
        st = self.st
        kind = "p2wpkh" if payer == "faucet" else st.wallet(payer).kind
        target = sum(o.value for o in outs)
        if coins is None:
            pool = self.spendable(payer, allow_unconfirmed or payer == "faucet")
            if payer == "faucet":
                best = max(pool, key=lambda c: c.value) if pool else None
                if best is not None and best.value >= 2 * target + 100_000:
                    pool = [best]
                else:
                    pool.sort(key=lambda c: -c.value)
            elif len(pool) > 12:
                # a random handful first, then (rarely needed) the largest of the rest
                head = self.rng.sample(pool, 12)
                if sum(c.value for c in head) < 2 * target + 100_000:
                    chosen = {(c.txid, c.vout) for c in head}
                    rest = [c for c in pool if (c.txid, c.vout) not in chosen]
                    rest.sort(key=lambda c: -c.value)
                    head += rest
                pool = head
            else:
                self.rng.shuffle(pool)
            coins = []
            total = 0
            for c in pool:
                coins.append(c)
                total += c.value
                fee = estimate_vsize([kind] * len(coins), [o.spk for o in outs] + [b"\x00" * 22])
                if total >= target + fee * feerate + DUST:
                    break
            else:
                raise ScenarioError(f"{payer} cannot afford {target}")
        total = sum(c.value for c in coins)
        outputs = list(outs)
        if change:
            change_spk = st.faucet_spk if payer == "faucet" else self.addr(st.wallet(payer), 1)
            vs = estimate_vsize([kind] * len(coins), [o.spk for o in outs] + [change_spk])
            fee = int(vs * feerate) + 1
            change_value = total - target - fee
            if change_value >= DUST:
                outputs.insert(self.rng.randrange(len(outputs) + 1), TxOut(change_value, change_spk))
        vs = estimate_vsize([kind] * len(coins), [o.spk for o in outputs])
        if total - sum(o.value for o in outputs) < vs:
            raise ScenarioError("fee too low")
        infos = [st.keys[c.spk] for c in coins]
        tx = build_and_sign(coins, infos, outputs, rbf=rbf)
        return self.submit(tx)

    def fund(self, outs: list[TxOut], feerate: float = 2.0) -> Tx:
        return self.pay("faucet", outs, feerate)

    # ---------------------------------------------------------------- expected balances

    def expected(self) -> dict[str, dict[str, int]]:
        """Electrum/Esplora-semantics balances per wallet from the sim's own ledger."""
        res: dict[str, dict[str, int]] = {}
        for w in self.st.wallets:
            confirmed = unconfirmed = utxos = 0
            for e in self.ledger.values():
                if e.wallet != w.name:
                    continue
                funded_conf = e.txid not in self.unconfirmed
                if funded_conf:
                    confirmed += e.value
                else:
                    unconfirmed += e.value
                if e.spent_by is None:
                    utxos += 1
                elif e.spent_by in self.unconfirmed:
                    unconfirmed -= e.value
                else:
                    confirmed -= e.value
            txids = self.wallet_txs[w.name]
            res[w.name] = {
                "confirmed": confirmed,
                "unconfirmed": unconfirmed,
                "txCount": len(txids),
                "confirmedTxCount": len(txids - self.unconfirmed),
                "utxoCount": utxos,
            }
        return res


# ------------------------------------------------------------------ timeline


def _bootstrap(sim: Sim) -> None:
    for i in range(COINBASE_MATURITY + 1):
        sim.mine(T_START + 600 * i)


def _times(rounds: int) -> list[int]:
    step = (T_END - T_ACTIVITY) // max(rounds, 1)
    return [T_ACTIVITY + step * (i + 1) for i in range(rounds)]


def _btc(rng: random.Random, lo: float, hi: float) -> int:
    return int(rng.uniform(lo, hi) * COIN)


# ------------------------------------------------------------------ scenarios


def _mixed_rounds(sim: Sim, rounds: int, times: list[int]) -> None:
    """Funding, payments out, payments between wallets, self transfers, consolidations, reuse, dust."""
    rng = sim.rng
    wallets = sim.st.wallets
    for r in range(rounds):
        # incoming: one faucet batch paying 2-3 wallets (fresh or reused address) and an outsider
        outs = []
        for w in rng.sample(wallets, min(len(wallets), rng.randint(2, 3))):
            spk = sim.reuse(w) if (r > 1 and rng.random() < 0.25) else sim.addr(w)
            outs.append(TxOut(_btc(rng, 0.05, 1.5), spk))
        outs.append(TxOut(_btc(rng, 0.01, 0.2), sim.external()))
        sim.fund(outs)
        if r % 4 == 2:
            # dust to a wallet
            sim.fund([TxOut(DUST + rng.randint(0, 200), sim.addr(rng.choice(wallets)))])
        if r >= 1:
            for w in rng.sample(wallets, min(len(wallets), 2)):
                if sim.spendable(w.name):
                    with contextlib.suppress(ScenarioError):
                        sim.pay(w.name, [TxOut(_btc(rng, 0.005, 0.05), sim.external())])
        if r >= 2 and len(wallets) > 1:
            a, b = rng.sample(wallets, 2)
            with contextlib.suppress(ScenarioError):
                sim.pay(a.name, [TxOut(_btc(rng, 0.01, 0.1), sim.addr(b))])
        if r % 3 == 1:
            w = rng.choice(wallets)
            with contextlib.suppress(ScenarioError):
                sim.pay(w.name, [TxOut(_btc(rng, 0.01, 0.05), sim.addr(w))], feerate=1.5)
        for w in wallets:
            coins = sim.spendable(w.name)
            if len(coins) >= 6:
                total = sum(c.value for c in coins)
                vs = estimate_vsize([w.kind] * len(coins), [b"\x00" * 22])
                sim.pay(w.name, [TxOut(total - vs * 2, sim.addr(w, 1))], coins=coins, change=False)
                break
        sim.mine(times[r])


def _wallets(scenario: str, seed: int, kinds: list[tuple[str, str]]) -> list[Wallet]:
    return [Wallet.create(name, kind, f"mbf-devchain/{scenario}/{seed}") for name, kind in kinds]


ALL_KINDS = [
    ("alice", "p2wpkh"),
    ("bob", "p2sh-p2wpkh"),
    ("carol", "p2pkh"),
    ("dave", "p2tr"),
    ("erin", "p2wsh-multi"),
]
# `small` has two wallets of each script type: the five above first (their indices and names are
# stable), then a second one of each kind in the same order.
SMALL_KINDS = [
    *ALL_KINDS,
    ("frank", "p2wpkh"),
    ("grace", "p2sh-p2wpkh"),
    ("heidi", "p2pkh"),
    ("ivan", "p2tr"),
    ("judy", "p2wsh-multi"),
]


def gen_small(seed: int) -> tuple[DevState, Sim]:
    st = DevState.new("small", seed, _wallets("small", seed, SMALL_KINDS))
    sim = Sim(st, random.Random(f"small/{seed}"))
    _bootstrap(sim)
    rounds = 20
    _mixed_rounds(sim, rounds, _times(rounds + 1))
    rng = sim.rng
    _alice, bob, carol, dave, erin = st.wallets[:5]
    # mempool: incoming unconfirmed, wallet-to-wallet, RBF payment, and a chain of unconfirmed
    sim.fund([TxOut(_btc(rng, 0.1, 0.3), sim.addr(bob)), TxOut(20_000, sim.external())])
    sim.pay(dave.name, [TxOut(_btc(rng, 0.01, 0.02), sim.addr(carol))])
    parent = sim.pay(erin.name, [TxOut(_btc(rng, 0.01, 0.02), sim.external())], rbf=True)
    change = [c for c in sim.pending[erin.name].values() if c.txid == parent.txid]
    if change:
        sim.pay(erin.name, [TxOut(change[0].value // 3, sim.external())], coins=change)
    st.meta["replaceable"] = parent.txid
    return st, sim


def gen_rbf(seed: int) -> tuple[DevState, Sim]:
    st = DevState.new("rbf", seed, _wallets("rbf", seed, [("alice", "p2wpkh"), ("bob", "p2tr")]))
    sim = Sim(st, random.Random(f"rbf/{seed}"))
    _bootstrap(sim)
    rounds = 6
    _mixed_rounds(sim, rounds, _times(rounds + 1))
    alice, bob = st.wallets
    pay = sim.pay(alice.name, [TxOut(25_000_000 // 10, sim.addr(bob))], feerate=2, rbf=True)
    st.meta["replaceable"] = pay.txid
    return st, sim


def gen_reorg(seed: int) -> tuple[DevState, Sim]:
    kinds = [("alice", "p2wpkh"), ("bob", "p2tr"), ("carol", "p2sh-p2wpkh")]
    st = DevState.new("reorg", seed, _wallets("reorg", seed, kinds))
    sim = Sim(st, random.Random(f"reorg/{seed}"))
    _bootstrap(sim)
    rounds = 10
    _mixed_rounds(sim, rounds, _times(rounds + 1))
    st.meta["reorgDepth"] = 3
    return st, sim


def gen_big(seed: int, txs: int = 10_200, fresh_addresses: int = 2_300) -> tuple[DevState, Sim]:
    st = DevState.new("big", seed, _wallets("big", seed, [("whale", "p2wpkh")]))
    sim = Sim(st, random.Random(f"big/{seed}"))
    _bootstrap(sim)
    rng = sim.rng
    whale = st.wallets[0]
    per_block = 18
    blocks = txs // per_block + 1
    times = _times(blocks + 1)
    made = 0
    fresh = 0
    b = 0
    while made < txs:
        for _ in range(per_block):
            coins = sim.spendable(whale.name)
            r = rng.random()
            if len(coins) > 40 and r < 0.03:
                pick = rng.sample(coins, rng.randint(10, 30))
                total = sum(c.value for c in pick)
                vs = estimate_vsize(["p2wpkh"] * len(pick), [b"\x00" * 22])
                sim.pay(whale.name, [TxOut(total - vs * 2, sim.addr(whale, 1))], coins=pick, change=False)
            elif coins and r < 0.40:
                sim.pay(whale.name, [TxOut(_btc(rng, 0.001, 0.02), sim.external())], feerate=1.5)
            else:
                if fresh < fresh_addresses and (rng.random() < 0.4 or fresh < 50):
                    spk = sim.addr(whale)
                    fresh += 1
                else:
                    spk = sim.reuse(whale)
                outs = [TxOut(_btc(rng, 0.002, 0.08), spk)]
                if rng.random() < 0.5:
                    outs.append(TxOut(_btc(rng, 0.001, 0.01), sim.external()))
                sim.fund(outs, feerate=1.5)
            made += 1
            if made >= txs:
                break
        sim.mine(times[min(b, len(times) - 1)])
        b += 1
    while fresh < fresh_addresses:
        sim.fund([TxOut(_btc(rng, 0.002, 0.01), sim.addr(whale))])
        fresh += 1
        if fresh % per_block == 0:
            sim.mine(times[min(b, len(times) - 1)])
            b += 1
    sim.mine(times[min(b, len(times) - 1)])
    # a few unconfirmed: incoming, an outgoing payment and its child
    sim.fund([TxOut(_btc(rng, 0.01, 0.05), sim.addr(whale))])
    sim.pay(whale.name, [TxOut(_btc(rng, 0.001, 0.01), sim.external())], rbf=True)
    return st, sim


# `gap`: used receive addresses far past the first request batch, each within the gap limit (20) of
# the previous one, the steps including gap - 1 and exactly gap (the edge, which must be found).
GAP_LIMIT = 20
GAP_STEPS = {
    "deep": [0, 12, 25, 38, 50, 68, 87, 100, 120, 140, 160, 180, 200],
    "edge": [0, 19, 39, 59],
}
# Payments to "deep" beyond its gap: invisible to a gap-20 wallet until a payment to
# last used + gap (220) makes 240 reachable, which in turn makes 260 reachable.
GAP_BEYOND = [240, 260]


def gen_gap(seed: int) -> tuple[DevState, Sim]:
    st = DevState.new("gap", seed, _wallets("gap", seed, [("deep", "p2wpkh"), ("edge", "p2tr")]))
    sim = Sim(st, random.Random(f"gap/{seed}"))
    _bootstrap(sim)
    rng = sim.rng
    deep, edge = st.wallets
    times = _times(8)
    by_index: dict[tuple[str, int], bytes] = {}
    for w in (deep, edge):
        for n, index in enumerate(GAP_STEPS[w.name]):
            by_index[(w.name, index)] = spk = sim.addr_at(w, index)
            sim.fund([TxOut(_btc(rng, 0.01, 0.5), spk)])
            if n % 4 == 3:
                sim.mine(times[n // 4])
    sim.mine(times[4])
    # deep spends two of its far coins (68 and 200) to an outsider, change on its change chain
    far = [c for c in sim.spendable(deep.name) if c.spk in (by_index[("deep", 68)], by_index[("deep", 200)])]
    sim.pay(deep.name, [TxOut(sum(c.value for c in far) // 2, sim.external())], coins=far)
    beyond = []
    for index in GAP_BEYOND:
        # keyinfo_spk, not deep.derive: the scenario's ledger and lookahead must not count these
        spk = keyinfo_spk(deep.key_info(0, index))
        sats = _btc(rng, 0.01, 0.2)
        tx = sim.fund([TxOut(sats, spk)])
        beyond.append({"index": index, "sats": sats, "txid": tx.txid})
    sim.mine(times[5])
    # mempool: an unconfirmed payment reusing deep's last used address
    sim.fund([TxOut(_btc(rng, 0.01, 0.05), by_index[("deep", 200)])])
    st.meta["gapLimit"] = GAP_LIMIT
    st.meta["usedReceive"] = {name: list(steps) for name, steps in GAP_STEPS.items()}
    st.meta["beyondGap"] = {"deep": beyond}
    return st, sim


GENERATORS: dict[str, Callable[[int], tuple[DevState, Sim]]] = {
    "small": gen_small,
    "big": gen_big,
    "reorg": gen_reorg,
    "rbf": gen_rbf,
    "gap": gen_gap,
}


def generate(scenario: str, seed: int) -> tuple[DevState, dict[str, dict[str, int]]]:
    gen = GENERATORS.get(scenario)
    if gen is None:
        raise ScenarioError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    st, sim = gen(seed)
    st.register_wallet_keys()
    return st, sim.expected()
