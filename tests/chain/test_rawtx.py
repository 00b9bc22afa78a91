"""Our raw transaction decoder against embit's serializer (segwit and legacy)."""

from __future__ import annotations

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from app.chain.rawtx import decode_header, decode_tx


def _tx(segwit: bool) -> Transaction:
    vin = [TransactionInput(bytes(range(32)), 3, sequence=0xFFFFFFFD)]
    if segwit:
        vin[0].witness.items = [b"\x30" * 71, b"\x02" * 33]
    vout = [
        TransactionOutput(12_345, Script(b"\x00\x14" + b"\x11" * 20)),
        TransactionOutput(2_100_000_000_000_000, Script(b"\x51\x20" + b"\x22" * 32)),
    ]
    return Transaction(version=2, vin=vin, vout=vout, locktime=800_000)


def test_decode_matches_embit() -> None:
    for segwit in (True, False):
        tx = _tx(segwit)
        raw = tx.serialize()
        d = decode_tx(raw.hex())
        assert d.txid == tx.txid().hex()
        assert d.version == 2 and d.locktime == 800_000
        assert d.inputs[0].prev_txid == bytes(range(32)).hex()  # embit takes display order
        assert d.inputs[0].prev_vout == 3
        assert d.signals_rbf
        assert [o.value for o in d.outputs] == [12_345, 2_100_000_000_000_000]
        assert d.outputs[0].script_pubkey == "0014" + "11" * 20
        if segwit:
            assert d.weight < len(raw) * 4
        else:
            assert d.weight == len(raw) * 4


def test_decode_rejects_garbage() -> None:
    import pytest

    with pytest.raises(ValueError):
        decode_tx("0200000001")
    raw = _tx(True).serialize().hex()
    with pytest.raises(ValueError):
        decode_tx(raw + "00")


def test_header_fields() -> None:
    # Bitcoin's genesis block header.
    genesis = (
        "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27a"
        "c72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c"
    )
    h = decode_header(genesis, 0)
    assert h.hash == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    assert h.time == 1231006505
    assert h.prev_hash == "00" * 32
