"""Coin selection and PSBT creation over the dev chain's ``big`` wallet (whale, p2wpkh).

The same code path as ``createPsbt`` without the server around it: eligible coins from the chain
model, ``select_coins`` (branch and bound bounded at 100,000 tries, knapsack, SRD; least waste),
then ``build_psbt`` with BIP32 derivations and full previous transactions.

    .venv/bin/python bench/spend_selection.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.bitcoin.descriptors import parse_wallet_source  # noqa: E402
from app.bitcoin.networks import Network  # noqa: E402
from app.dev.devchain.runner import DevChain  # noqa: E402
from app.spend import psbt as P  # noqa: E402
from app.spend import sizes  # noqa: E402
from app.spend.selection import (  # noqa: E402
    KNAPSACK_MAX_COINS,
    Candidate,
    SelectionParams,
    branch_and_bound,
    effective_value,
    fee_for,
    select_coins,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    data_dir = Path(os.environ.get("MBF_DATA_DIR", tempfile.gettempdir())) / "devchain"
    t0 = time.perf_counter()
    dc = DevChain.build("big", seed=1, data_dir=data_dir)
    print(f"devchain big loaded in {time.perf_counter() - t0:.1f} s")
    whale = dc.state.wallet("whale")
    chain = dc.state.chain
    desc = parse_wallet_source(dc.info["wallets"][0]["descriptor"], Network.REGTEST)
    st = desc.script_type
    in_w = sizes.input_weight(st)
    coins: list[Candidate] = []
    where: dict[str, tuple[int, int]] = {}
    for txid in list(chain.confirmed_at):
        tx = chain.txs[txid]
        for n, out in enumerate(tx.vout):
            pos = whale.spks.get(out.spk)
            if pos is not None and (txid, n) not in chain.spends:
                c = Candidate(txid, n, out.value, in_w)
                coins.append(c)
                where[c.outpoint] = pos
    total = sum(c.value for c in coins)
    print(f"whale: {len(coins)} confirmed UTXOs, {total} sats; knapsack runs only up to {KNAPSACK_MAX_COINS} coins")
    rate = 5_000  # 5 sat/vB
    params = SelectionParams(rate, 10_000, sizes.output_weight(22), in_w, 1_000)
    pay = b"\x00\x14" + bytes(20)
    base_w = sizes.tx_weight([], [22], True)
    rng = random.Random(1)
    print(
        f"{'target sats':>12} {'algo':>8} {'inputs':>6} {'waste':>7} {'bnb tries':>9} {'select ms':>9} {'psbt ms':>8}"
    )
    for target in (50_000, 1_000_000, total // 20, total // 3):
        sel_ms: list[float] = []
        psbt_ms: list[float] = []
        tries = 0
        for _ in range(args.runs):
            t = time.perf_counter()
            sel = select_coins(coins, target + fee_for(base_w, rate), params, random.Random(rng.random()))
            t1 = time.perf_counter()
            excess = sum(effective_value(c, rate) for c in sel.coins) - target - fee_for(base_w, rate)
            outs = [P.OutputSpec(pay, target)]
            if excess - params.change_fee >= params.min_change:
                outs.append(P.OutputSpec(b"\x00\x14" + bytes(20), excess - params.change_fee, 0))
            specs = [
                P.InputSpec(c.txid, c.vout, c.value, *where[c.outpoint], chain.txs[c.txid].raw, P.SEQUENCE_RBF_DEFAULT)
                for c in sel.coins
            ]
            P.to_base64(P.build_psbt(desc, specs, outs, chain.height))
            t2 = time.perf_counter()
            sel_ms.append((t1 - t) * 1000)
            psbt_ms.append((t2 - t) * 1000)
        _bnb, tries = branch_and_bound(coins, target + fee_for(base_w, rate), params)
        print(
            f"{target:>12} {sel.algorithm:>8} {len(sel.coins):>6} {sel.waste:>7} {tries:>9} "
            f"{statistics.median(sel_ms):>9.1f} {statistics.median(psbt_ms):>8.1f}"
        )
    # 10,000 coins: the whale's values repeated on synthetic outpoints (selection only; the PSBT
    # build above depends on the number of inputs chosen, not on the wallet's size).
    big = [Candidate(f"{k:064x}", 0, coins[k % len(coins)].value, in_w) for k in range(10_000)]
    print(f"\n10,000 UTXOs ({sum(c.value for c in big)} sats): selection only")
    for target in (50_000, 1_000_000, 100_000_000, 10_000_000_000):
        sel_ms = []
        for _ in range(args.runs):
            t = time.perf_counter()
            sel = select_coins(big, target + fee_for(base_w, rate), params, random.Random(rng.random()))
            sel_ms.append((time.perf_counter() - t) * 1000)
        _bnb, tries = branch_and_bound(big, target + fee_for(base_w, rate), params)
        print(
            f"{target:>12} {sel.algorithm:>8} {len(sel.coins):>6} {sel.waste:>7} {tries:>9} "
            f"{statistics.median(sel_ms):>9.1f}"
        )
    print("psbt ms = selection + PSBT build (derivations, previous transactions, base64), median of runs")
    descriptor_wallets(args.runs)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")


def descriptor_wallets(runs: int) -> None:
    """PSBT build for miniscript and taproot-tree wallets: cold (every key and leaf derived by embit
    for each input) and warm (the template's derivations cached, as for a wallet used again)."""
    import hashlib

    from embit.bip32 import HDKey
    from embit.networks import NETWORKS
    from embit.script import Script
    from embit.transaction import Transaction, TransactionInput, TransactionOutput

    from app.bitcoin.keychains import parse_watched
    from app.spend.templates import DescriptorTemplate

    reg = NETWORKS["regtest"]
    keys = []
    for n in range(4):
        root = HDKey.from_seed(hashlib.sha256(f"bench/{n}".encode()).digest(), version=reg["xprv"])
        xpub = root.derive("m/48h/1h/0h/2h").to_public().to_base58(version=reg["xpub"])
        keys.append(f"[{root.my_fingerprint.hex()}/48h/1h/0h/2h]{xpub}/<0;1>/*")
    a, b, c, k = keys
    wallets = {
        "wsh thresh 2-of-3": f"wsh(thresh(2,pk({a}),s:pk({b}),s:pk({c})))",
        "tr {pk, multi_a 2-of-2}": f"tr({k},{{pk({a}),multi_a(2,{b},{c})}})",
    }
    print(
        f"\n{'descriptor wallet':>24} {'inputs':>6} {'input vB':>8} {'template ms':>11} {'cold ms':>8} {'warm ms':>8}"
    )
    for name, text in wallets.items():
        watched = parse_watched(text, Network.REGTEST)
        chains = tuple((kc.descriptor, kc.internal) for kc in watched.keychains)
        t0 = time.perf_counter()
        setup = DescriptorTemplate(chains, watched.threshold)
        template_ms = (time.perf_counter() - t0) * 1000
        for n_in in (1, 10, 50):
            specs = []
            for i in range(n_in):
                spk = setup.script_pubkey(0, i)
                prev = Transaction(vin=[TransactionInput(bytes(32), i)], vout=[TransactionOutput(100_000, Script(spk))])
                specs.append(P.InputSpec(prev.txid().hex(), 0, 100_000, 0, i, prev.serialize(), 0xFFFFFFFD))
            outs = [P.OutputSpec(b"\x00\x14" + bytes(20), 50_000), P.OutputSpec(setup.script_pubkey(1, 0), 10, 0, 1)]
            cold, warm = [], []
            for _ in range(runs):
                fresh = DescriptorTemplate(chains, watched.threshold)
                t = time.perf_counter()
                P.to_base64(P.build_psbt(fresh, specs, outs, 100))
                cold.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                P.to_base64(P.build_psbt(fresh, specs, outs, 100))
                warm.append((time.perf_counter() - t) * 1000)
            print(
                f"{name:>24} {n_in:>6} {setup.input_weight(0) / 4:>8.1f} {template_ms:>11.1f} "
                f"{statistics.median(cold):>8.1f} {statistics.median(warm):>8.1f}"
            )


if __name__ == "__main__":
    main()
