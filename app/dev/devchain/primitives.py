"""Bitcoin primitives used by the dev chain: transactions, scripts, merkle trees, headers.

Pure functions and small dataclasses; no I/O. Transactions are parsed and serialized with embit.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

from embit.networks import NETWORKS
from embit.script import Script
from embit.transaction import Transaction

REGTEST = NETWORKS["regtest"]
COIN = 100_000_000
REGTEST_BITS = 0x207FFFFF
REGTEST_TARGET = 0x7FFFFF * 2 ** (8 * (0x20 - 3))
HALVING_INTERVAL = 150  # regtest
COINBASE_MATURITY = 100
NULL_TXID = "00" * 32
SEQUENCE_FINAL = 0xFFFFFFFF
SEQUENCE_RBF = 0xFFFFFFFD


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def scripthash(spk: bytes) -> str:
    """Electrum/Esplora script hash: SHA256 of the scriptPubKey, reversed, hex."""
    return hashlib.sha256(spk).digest()[::-1].hex()


def block_subsidy(height: int) -> int:
    halvings = height // HALVING_INTERVAL
    if halvings >= 64:
        return 0
    return (50 * COIN) >> halvings


def compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


@dataclass(slots=True)
class TxIn:
    txid: str  # display (RPC) byte order
    vout: int
    script_sig: bytes
    witness: list[bytes]
    sequence: int


@dataclass(slots=True)
class TxOut:
    value: int
    spk: bytes


@dataclass(slots=True)
class Tx:
    txid: str
    raw: bytes
    version: int
    locktime: int
    vin: list[TxIn]
    vout: list[TxOut]
    size: int
    weight: int
    wtxid: str = ""
    fee: int = 0  # filled in by the chain (needs prevouts); 0 for coinbase
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def is_coinbase(self) -> bool:
        return len(self.vin) == 1 and self.vin[0].txid == NULL_TXID

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4

    @property
    def signals_rbf(self) -> bool:
        return any(i.sequence < 0xFFFFFFFE for i in self.vin)


def tx_from_embit(etx: Transaction, raw: bytes | None = None) -> Tx:
    if raw is None:
        raw = etx.serialize()
    vin = [
        TxIn(
            txid=inp.txid.hex(),
            vout=inp.vout,
            script_sig=inp.script_sig.data,
            witness=[bytes(w) for w in inp.witness.items],
            sequence=inp.sequence,
        )
        for inp in etx.vin
    ]
    vout = [TxOut(out.value, out.script_pubkey.data) for out in etx.vout]
    segwit = any(i.witness for i in vin)
    base = _serialize(etx.version, etx.locktime, vin, vout, witness=False) if segwit else raw
    txid = sha256d(base)[::-1].hex()
    wtxid = sha256d(raw)[::-1].hex() if segwit else txid
    return Tx(
        txid=txid,
        raw=raw,
        version=etx.version,
        locktime=etx.locktime,
        vin=vin,
        vout=vout,
        size=len(raw),
        weight=len(base) * 3 + len(raw),
        wtxid=wtxid,
    )


def parse_tx(raw: bytes) -> Tx:
    """Parse a raw transaction; raises ValueError on malformed input or trailing bytes."""
    stream = io.BytesIO(raw)
    try:
        etx = Transaction.read_from(stream)
    except Exception as exc:
        raise ValueError("TX decode failed") from exc
    if stream.read(1):
        raise ValueError("TX decode failed")
    if not etx.vin or not etx.vout:
        raise ValueError("TX decode failed")
    return tx_from_embit(etx, raw)


def _serialize(version: int, locktime: int, vin: list[TxIn], vout: list[TxOut], witness: bool) -> bytes:
    parts = [version.to_bytes(4, "little")]
    if witness:
        parts.append(b"\x00\x01")
    parts.append(compact_size(len(vin)))
    for i in vin:
        parts.append(bytes.fromhex(i.txid)[::-1])
        parts.append(i.vout.to_bytes(4, "little"))
        parts.append(compact_size(len(i.script_sig)) + i.script_sig)
        parts.append(i.sequence.to_bytes(4, "little"))
    parts.append(compact_size(len(vout)))
    for o in vout:
        parts.append(o.value.to_bytes(8, "little"))
        parts.append(compact_size(len(o.spk)) + o.spk)
    if witness:
        for i in vin:
            parts.append(compact_size(len(i.witness)))
            for w in i.witness:
                parts.append(compact_size(len(w)) + w)
    parts.append(locktime.to_bytes(4, "little"))
    return b"".join(parts)


def make_tx(version: int, locktime: int, vin: list[TxIn], vout: list[TxOut]) -> Tx:
    """Serialize a transaction built from dataclasses (coinbases, the genesis block)."""
    segwit = any(i.witness for i in vin)
    raw = _serialize(version, locktime, vin, vout, witness=segwit)
    base = _serialize(version, locktime, vin, vout, witness=False) if segwit else raw
    txid = sha256d(base)[::-1].hex()
    return Tx(
        txid=txid,
        raw=raw,
        version=version,
        locktime=locktime,
        vin=vin,
        vout=vout,
        size=len(raw),
        weight=len(base) * 3 + len(raw),
        wtxid=sha256d(raw)[::-1].hex() if segwit else txid,
    )


# ---------------------------------------------------------------- merkle trees


def merkle_root(hashes: list[bytes]) -> bytes:
    """Merkle root over internal-byte-order hashes."""
    if not hashes:
        return b"\x00" * 32
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def merkle_branch(hashes: list[bytes], pos: int) -> list[bytes]:
    branch: list[bytes] = []
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        branch.append(level[pos ^ 1])
        pos //= 2
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return branch


def merkle_root_from_branch(leaf: bytes, branch: list[bytes], pos: int) -> bytes:
    h = leaf
    for sibling in branch:
        h = sha256d(sibling + h) if pos & 1 else sha256d(h + sibling)
        pos //= 2
    return h


# ---------------------------------------------------------------- headers


@dataclass(slots=True)
class Header:
    version: int
    prev_hash: str  # display order
    merkle_root: str  # display order
    time: int
    bits: int
    nonce: int

    def serialize(self) -> bytes:
        return (
            self.version.to_bytes(4, "little")
            + bytes.fromhex(self.prev_hash)[::-1]
            + bytes.fromhex(self.merkle_root)[::-1]
            + self.time.to_bytes(4, "little")
            + self.bits.to_bytes(4, "little")
            + self.nonce.to_bytes(4, "little")
        )

    @classmethod
    def parse(cls, raw: bytes) -> Header:
        return cls(
            version=int.from_bytes(raw[0:4], "little"),
            prev_hash=raw[4:36][::-1].hex(),
            merkle_root=raw[36:68][::-1].hex(),
            time=int.from_bytes(raw[68:72], "little"),
            bits=int.from_bytes(raw[72:76], "little"),
            nonce=int.from_bytes(raw[76:80], "little"),
        )


def bits_to_target(bits: int) -> int:
    exp = bits >> 24
    mant = bits & 0xFFFFFF
    return mant * 2 ** (8 * (exp - 3))


def check_pow(header_raw: bytes, bits: int = REGTEST_BITS) -> bool:
    return int.from_bytes(sha256d(header_raw), "little") <= bits_to_target(bits)


def mine_header(header: Header) -> tuple[bytes, str]:
    """Grind the nonce until the header meets the regtest target. Returns (raw, hash)."""
    target = bits_to_target(header.bits)
    prefix = header.serialize()[:76]
    nonce = header.nonce
    while True:
        raw = prefix + nonce.to_bytes(4, "little")
        h = sha256d(raw)
        if int.from_bytes(h, "little") <= target:
            header.nonce = nonce
            return raw, h[::-1].hex()
        nonce += 1


def difficulty(bits: int) -> float:
    return bits_to_target(0x1D00FFFF) / bits_to_target(bits)


# ---------------------------------------------------------------- scripts

_OPCODE_NAMES = {
    0x00: "OP_0",
    0x4F: "OP_PUSHNUM_NEG1",
    0x50: "OP_RESERVED",
    0x61: "OP_NOP",
    0x63: "OP_IF",
    0x64: "OP_NOTIF",
    0x67: "OP_ELSE",
    0x68: "OP_ENDIF",
    0x69: "OP_VERIFY",
    0x6A: "OP_RETURN",
    0x75: "OP_DROP",
    0x76: "OP_DUP",
    0x82: "OP_SIZE",
    0x87: "OP_EQUAL",
    0x88: "OP_EQUALVERIFY",
    0xA6: "OP_RIPEMD160",
    0xA8: "OP_SHA256",
    0xA9: "OP_HASH160",
    0xAA: "OP_HASH256",
    0xAC: "OP_CHECKSIG",
    0xAD: "OP_CHECKSIGVERIFY",
    0xAE: "OP_CHECKMULTISIG",
    0xAF: "OP_CHECKMULTISIGVERIFY",
    0xB1: "OP_CLTV",
    0xB2: "OP_CSV",
    0xBA: "OP_CHECKSIGADD",
}


def script_asm(script: bytes) -> str:
    """Human readable script in the style of electrs/esplora (`OP_PUSHBYTES_20 <hex>`)."""
    out: list[str] = []
    i = 0
    n = len(script)
    while i < n:
        op = script[i]
        i += 1
        if 0x01 <= op <= 0x4B:
            out.append(f"OP_PUSHBYTES_{op} {script[i : i + op].hex()}")
            i += op
        elif op in (0x4C, 0x4D, 0x4E):
            width = {0x4C: 1, 0x4D: 2, 0x4E: 4}[op]
            ln = int.from_bytes(script[i : i + width], "little")
            i += width
            name = {0x4C: "OP_PUSHDATA1", 0x4D: "OP_PUSHDATA2", 0x4E: "OP_PUSHDATA4"}[op]
            out.append(f"{name} {script[i : i + ln].hex()}")
            i += ln
        elif 0x51 <= op <= 0x60:
            out.append(f"OP_PUSHNUM_{op - 0x50}")
        elif op in _OPCODE_NAMES:
            out.append(_OPCODE_NAMES[op])
        else:
            out.append(f"OP_UNKNOWN_{op:#04x}")
    return " ".join(out)


def script_pushes(script: bytes) -> list[bytes] | None:
    """The data pushes of a push-only script, or None."""
    items: list[bytes] = []
    i = 0
    while i < len(script):
        op = script[i]
        i += 1
        if op == 0:
            items.append(b"")
        elif op <= 0x4B:
            items.append(script[i : i + op])
            i += op
        elif op == 0x4C:
            ln = script[i]
            items.append(script[i + 1 : i + 1 + ln])
            i += 1 + ln
        elif op == 0x4D:
            ln = int.from_bytes(script[i : i + 2], "little")
            items.append(script[i + 2 : i + 2 + ln])
            i += 2 + ln
        else:
            return None
    return items


def script_type(spk: bytes) -> str:
    """Esplora `scriptpubkey_type`."""
    n = len(spk)
    if n == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return "p2pkh"
    if n == 23 and spk[:2] == b"\xa9\x14" and spk[22] == 0x87:
        return "p2sh"
    if n == 22 and spk[:2] == b"\x00\x14":
        return "v0_p2wpkh"
    if n == 34 and spk[:2] == b"\x00\x20":
        return "v0_p2wsh"
    if n == 34 and spk[:2] == b"\x51\x20":
        return "v1_p2tr"
    if n >= 1 and spk[0] == 0x6A:
        return "op_return"
    if (n == 35 and spk[0] == 33 and spk[-1] == 0xAC) or (n == 67 and spk[0] == 65 and spk[-1] == 0xAC):
        return "p2pk"
    if n == 0:
        return "empty"
    return "unknown"


def spk_address(spk: bytes) -> str | None:
    if script_type(spk) not in ("p2pkh", "p2sh", "v0_p2wpkh", "v0_p2wsh", "v1_p2tr"):
        return None
    try:
        return str(Script(spk).address(REGTEST))
    except Exception:
        return None


def address_to_spk(address: str) -> bytes:
    """Decode a regtest address. Raises ValueError if it is not a valid regtest address."""
    from embit import base58, bech32

    try:
        if address.lower().startswith("bcrt1"):
            ver, prog = bech32.decode("bcrt", address)
            if ver is None or prog is None:
                raise ValueError("bad bech32")
            if ver == 0 and len(prog) not in (20, 32):
                raise ValueError("bad program")
            if ver == 1 and len(prog) != 32:
                raise ValueError("bad program")
            return bytes([0x50 + ver if ver else 0, len(prog)]) + bytes(prog)
        data = base58.decode_check(address)
    except Exception as exc:
        raise ValueError("Invalid Bitcoin address") from exc
    if len(data) == 21 and data[:1] == REGTEST["p2pkh"]:
        return b"\x76\xa9\x14" + data[1:] + b"\x88\xac"
    if len(data) == 21 and data[:1] == REGTEST["p2sh"]:
        return b"\xa9\x14" + data[1:] + b"\x87"
    raise ValueError("Invalid Bitcoin address")


def push_data(data: bytes) -> bytes:
    n = len(data)
    if n < 0x4C:
        return bytes([n]) + data
    if n <= 0xFF:
        return b"\x4c" + bytes([n]) + data
    return b"\x4d" + n.to_bytes(2, "little") + data


def script_num(n: int) -> bytes:
    """BIP34 height push, as `CScript() << n`."""
    if n == 0:
        return b"\x00"
    if 1 <= n <= 16:
        return bytes([0x50 + n])
    out = bytearray()
    v = n
    while v:
        out.append(v & 0xFF)
        v >>= 8
    if out[-1] & 0x80:
        out.append(0)
    return push_data(bytes(out))
