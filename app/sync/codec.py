"""The stored form of a transaction's inputs and outputs: compact JSON in ``wallet_txs.io``.

``serialize`` and ``parse`` are inverses: ``parse(txid, serialize(tx), tx.weight, tx.fee)``
gives back ``tx`` without its confirmation fields (those live in their own columns).
"""

from __future__ import annotations

import json

from app.chain.backend import ChainTx, TxInput, TxOutput


def serialize(tx: ChainTx) -> str:
    return json.dumps(
        {
            "v": tx.version,
            "l": tx.locktime,
            "i": [[i.prev_txid, i.prev_vout, i.sequence, i.value, i.script_pubkey] for i in tx.inputs],
            "o": [[o.value, o.script_pubkey] for o in tx.outputs],
        },
        separators=(",", ":"),
    )


def parse(txid: str, io: str, weight: int, fee: int | None) -> ChainTx:
    d = json.loads(io)
    return ChainTx(
        txid=txid,
        version=int(d["v"]),
        locktime=int(d["l"]),
        inputs=tuple(TxInput(a, int(b), int(c), v, s) for a, b, c, v, s in d["i"]),
        outputs=tuple(TxOutput(int(v), s) for v, s in d["o"]),
        weight=weight,
        fee=fee,
    )
