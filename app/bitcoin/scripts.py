"""Script types and the scriptPubKey templates they produce (pure byte functions).

The builders take already-derived public keys (33-byte compressed SEC) and return
scriptPubKey bytes. They are called once per derived index, so they stay tiny and
allocation-light; hashing uses ``hashlib`` directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum

MAX_MULTISIG_KEYS = 20
"""Consensus MAX_PUBKEYS_PER_MULTISIG: the most keys of any multisig (P2WSH, P2SH-P2WSH)."""
MAX_P2SH_MULTISIG_KEYS = 15
"""The P2SH redeem-script limit (520 bytes) allows 15 compressed keys in legacy P2SH."""


class ScriptType(StrEnum):
    """How outputs are locked (GraphQL enum ``ScriptType``)."""

    P2PKH = "P2PKH"
    P2SH_P2WPKH = "P2SH_P2WPKH"
    P2WPKH = "P2WPKH"
    P2TR = "P2TR"
    P2SH = "P2SH"  # legacy multisig
    P2SH_P2WSH = "P2SH_P2WSH"  # nested segwit multisig
    P2WSH = "P2WSH"  # native segwit multisig (or any witness script: miniscript)
    BARE = "BARE"  # a script with no address form: pk(), bare multi, raw()
    MIXED = "MIXED"  # keychains of several types (combo(), or descriptors of different kinds)

    @property
    def is_multisig(self) -> bool:
        return self in MULTISIG_TYPES

    @property
    def purpose(self) -> int:
        """BIP43 purpose of the usual account path (44/49/84/86 single-sig, 48/45 multisig; 0: none)."""
        return _PURPOSE.get(self, 0)

    def max_multisig_keys(self) -> int:
        """Keys a multi/sortedmulti may have under this script type (BIP-383)."""
        return MAX_P2SH_MULTISIG_KEYS if self is ScriptType.P2SH else MAX_MULTISIG_KEYS


SINGLE_SIG_TYPES = (ScriptType.P2PKH, ScriptType.P2SH_P2WPKH, ScriptType.P2WPKH, ScriptType.P2TR)
MULTISIG_TYPES = (ScriptType.P2SH, ScriptType.P2SH_P2WSH, ScriptType.P2WSH)

_PURPOSE = {
    ScriptType.P2PKH: 44,
    ScriptType.P2SH_P2WPKH: 49,
    ScriptType.P2WPKH: 84,
    ScriptType.P2TR: 86,
    ScriptType.P2SH: 45,
    ScriptType.P2SH_P2WSH: 48,
    ScriptType.P2WSH: 48,
}


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def p2pkh(pubkey: bytes) -> bytes:
    return b"\x76\xa9\x14" + hash160(pubkey) + b"\x88\xac"


def p2wpkh(pubkey: bytes) -> bytes:
    return b"\x00\x14" + hash160(pubkey)


def p2sh(redeem_script: bytes) -> bytes:
    return b"\xa9\x14" + hash160(redeem_script) + b"\x87"


def p2wsh(witness_script: bytes) -> bytes:
    return b"\x00\x20" + hashlib.sha256(witness_script).digest()


def p2sh_p2wpkh(pubkey: bytes) -> bytes:
    return p2sh(p2wpkh(pubkey))


def p2tr(output_key_xonly: bytes) -> bytes:
    """Segwit v1 output for an already tweaked 32-byte x-only output key."""
    return b"\x51\x20" + output_key_xonly


def multisig_script(threshold: int, pubkeys: Sequence[bytes], *, sort: bool = True) -> bytes:
    """``OP_k <key>... OP_n OP_CHECKMULTISIG``; ``sort=True`` is BIP67 / ``sortedmulti``."""
    n = len(pubkeys)
    if not 1 <= threshold <= n <= MAX_MULTISIG_KEYS:
        raise ValueError(f"invalid multisig {threshold}-of-{n}")
    keys = sorted(pubkeys) if sort else pubkeys
    body = b"".join(bytes((len(k),)) + k for k in keys)
    return _small_int(threshold) + body + _small_int(n) + b"\xae"


def _small_int(n: int) -> bytes:
    """OP_1..OP_16, or a one-byte push for 17..20 (BIP-383: "if k is greater than 16: k")."""
    return bytes((0x50 + n,)) if n <= 16 else bytes((1, n))


def wrap_multisig(script_type: ScriptType, witness_script: bytes) -> bytes:
    """The scriptPubKey paying to a multisig script under the given multisig script type."""
    if script_type is ScriptType.P2WSH:
        return p2wsh(witness_script)
    if script_type is ScriptType.P2SH_P2WSH:
        return p2sh(p2wsh(witness_script))
    if script_type is ScriptType.P2SH:
        return p2sh(witness_script)
    raise ValueError(f"{script_type} is not a multisig script type")
