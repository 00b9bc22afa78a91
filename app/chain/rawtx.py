"""A small, fast decoder for raw transactions (what Electrum's ``blockchain.transaction.get``
returns): inputs, outputs, txid and weight. Also parses 80-byte block headers."""

from __future__ import annotations

import hashlib

from app.chain.backend import BlockHeader, ChainTx, TxInput, TxOutput


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise ValueError("truncated transaction")
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "little")

    def varint(self) -> int:
        first = self.take(1)[0]
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        return int.from_bytes(self.take(size), "little")


def decode_tx(raw: bytes | str) -> ChainTx:
    """Decode a serialized transaction (with or without witness). Raises ``ValueError``."""
    buf = bytes.fromhex(raw) if isinstance(raw, str) else raw
    r = _Reader(buf)
    version = r.u32()
    segwit = False
    if buf[r.pos : r.pos + 2] == b"\x00\x01":
        segwit = True
        r.pos += 2
    start_io = r.pos
    inputs = []
    for _ in range(r.varint()):
        prev = r.take(32)[::-1].hex()
        vout = r.u32()
        r.take(r.varint())  # scriptSig
        inputs.append(TxInput(prev_txid=prev, prev_vout=vout, sequence=r.u32()))
    outputs = []
    for _ in range(r.varint()):
        value = r.u64()
        outputs.append(TxOutput(value=value, script_pubkey=r.take(r.varint()).hex()))
    end_io = r.pos
    if segwit:
        for _ in inputs:
            for _ in range(r.varint()):
                r.take(r.varint())
    witness_end = r.pos
    locktime = r.u32()
    if r.pos != len(buf):
        raise ValueError("trailing bytes after transaction")
    stripped = buf[:4] + buf[start_io:end_io] + buf[witness_end:] if segwit else buf
    weight = len(stripped) * 3 + len(buf)
    txid = _sha256d(stripped)[::-1].hex()
    return ChainTx(
        txid=txid,
        version=version,
        locktime=locktime,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        weight=weight,
    )


def decode_header(raw: bytes | str, height: int) -> BlockHeader:
    buf = bytes.fromhex(raw) if isinstance(raw, str) else raw
    if len(buf) != 80:
        raise ValueError("a block header is 80 bytes")
    return BlockHeader(
        height=height,
        hash=_sha256d(buf)[::-1].hex(),
        time=int.from_bytes(buf[68:72], "little"),
        prev_hash=buf[4:36][::-1].hex(),
    )
