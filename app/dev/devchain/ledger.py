"""Expected wallet figures recomputed by walking the active chain and the mempool.

This does not use the chain's script-hash index: it scans every transaction and matches outputs
against the wallet's own derived scriptPubKeys.
"""

from __future__ import annotations

from app.dev.devchain.builder import Wallet
from app.dev.devchain.chain import Chain
from app.dev.devchain.primitives import Tx


def wallet_figures(chain: Chain, wallet: Wallet, gap: int = 20) -> dict[str, int]:
    """Figures over the scripts handed out plus `gap` more per chain (payments to the next addresses
    a wallet would show count too)."""
    wallet.ensure_lookahead(gap)
    mine = wallet.spks
    funded: dict[tuple[str, int], tuple[int, bool]] = {}  # outpoint -> (value, confirmed)
    spent: dict[tuple[str, int], bool] = {}  # outpoint -> spent by confirmed tx
    txids: set[str] = set()
    conf_txids: set[str] = set()

    def scan(tx: Tx, confirmed: bool) -> None:
        touched = False
        if not tx.is_coinbase:
            for inp in tx.vin:
                key = (inp.txid, inp.vout)
                if key in funded:
                    spent[key] = confirmed
                    touched = True
        for n, o in enumerate(tx.vout):
            if o.spk in mine:
                funded[(tx.txid, n)] = (o.value, confirmed)
                touched = True
        if touched:
            txids.add(tx.txid)
            if confirmed:
                conf_txids.add(tx.txid)

    for bhash in chain.active[1:]:
        for tx in chain.block_txs[bhash]:
            scan(tx, True)
    for tx in chain.topo_mempool():
        scan(tx, False)
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
    return {
        "confirmed": confirmed,
        "unconfirmed": unconfirmed,
        "txCount": len(txids),
        "confirmedTxCount": len(conf_txids),
        "utxoCount": utxos,
    }
