"""Cross-check: our coin selection and fee against BDK's ``TxBuilder`` (bdkpython) on the same
UTXO set, target and fee rate. Differences are expected and explained in docs/spending.md.

    .venv/bin/python bench/spend_bdk_compare.py

The dev chain ``small`` runs in a thread; a block is mined first so every UTXO is confirmed (both
sides then see the same set). BDK syncs each wallet with its own Esplora client.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bdkpython as bdk  # noqa: E402

from app.bitcoin.descriptors import parse_wallet_source  # noqa: E402
from app.bitcoin.networks import Network  # noqa: E402
from app.dev.devchain.runner import start_in_thread  # noqa: E402
from app.spend import sizes  # noqa: E402
from app.spend.selection import (  # noqa: E402
    MIN_CHANGE,
    Candidate,
    SelectionParams,
    change_after_fee,
    fee_for,
    select_coins,
)

RATE_SAT_VB = 5
TARGETS = (20_000, 120_000, 1_000_000, 5_000_000)
DEST = "bcrt1qq6hag67dl53wl99vzg42z8eyzfz2xlkvwk6f7m"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, start_in_thread(scenario="small", seed=1, data_dir=Path(tmp)) as chain:
        asyncio.run(chain.mine(1))
        print(
            f"rate {RATE_SAT_VB} sat/vB; ours = select_coins (bnb/knapsack/srd, least waste); bdk = TxBuilder default"
        )
        print(
            f"{'wallet':>7} {'target':>9} | {'ours algo':>9} {'in':>3} {'fee':>6} | "
            f"{'bdk in':>6} {'fee':>6} | same inputs"
        )
        for w in chain.info["wallets"][:5]:
            compare(chain, w)


def compare(chain: object, w: dict[str, object]) -> None:
    descs = w["descriptors"]
    assert isinstance(descs, dict)
    wallet = bdk.Wallet(
        bdk.Descriptor(descs["receive"], bdk.NetworkKind.TEST),
        bdk.Descriptor(descs["change"], bdk.NetworkKind.TEST),
        bdk.Network.REGTEST,
        bdk.Persister.new_in_memory(),
    )
    client = bdk.EsploraClient(chain.esplora_url)  # type: ignore[attr-defined]
    wallet.apply_update(client.full_scan(wallet.start_full_scan().build(), 20, 4))
    desc = parse_wallet_source(str(w["descriptor"]), Network.REGTEST)
    st = desc.script_type
    in_w = sizes.input_weight(st, desc.threshold or 1, len(desc.keys))
    coins = [
        Candidate(str(u.outpoint.txid), u.outpoint.vout, u.txout.value.to_sat(), in_w) for u in wallet.list_unspent()
    ]
    rate_kvb = RATE_SAT_VB * 1000
    change_len = len(bytes(wallet.peek_address(bdk.KeychainKind.INTERNAL, 0).address.script_pubkey().to_bytes()))
    params = SelectionParams(rate_kvb, 10_000, sizes.output_weight(change_len), in_w, max(MIN_CHANGE, 294))
    dest = bdk.Address(DEST, bdk.Network.REGTEST)
    base_w = sizes.tx_weight([], [22], sizes.is_segwit(st))
    for target in TARGETS:
        if target * 2 > sum(c.value for c in coins):
            continue
        sel = select_coins(coins, target + fee_for(base_w, rate_kvb), params, random.Random(1))
        values = [c.value for c in sel.coins]
        change = change_after_fee(
            values, target, in_w, [22], change_len, sizes.is_segwit(st), rate_kvb, params.min_change
        )
        w_total = sizes.tx_weight([in_w] * len(sel.coins), [22] + ([change_len] if change else []), sizes.is_segwit(st))
        our_fee = sum(values) - target - change
        psbt = (
            bdk.TxBuilder()
            .add_recipient(dest.script_pubkey(), bdk.Amount.from_sat(target))
            .fee_rate(bdk.FeeRate.from_sat_per_vb(RATE_SAT_VB))
            .finish(wallet)
        )
        tx = psbt.extract_tx()
        bdk_inputs = {f"{i.previous_output.txid}:{i.previous_output.vout}" for i in tx.input()}
        ours = {c.outpoint for c in sel.coins}
        print(
            f"{w['name']!s:>7} {target:>9} | {sel.algorithm:>9} {len(ours):>3} {our_fee:>6} | "
            f"{len(bdk_inputs):>6} {psbt.fee():>6} | {'yes' if ours == bdk_inputs else 'no'}"
            f"  (our est. vsize {sizes.vbytes(w_total)})"
        )


if __name__ == "__main__":
    main()
