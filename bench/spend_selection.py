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
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
