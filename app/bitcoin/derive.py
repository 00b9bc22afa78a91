"""Fast public derivation of scriptPubKeys.

A wallet's addresses are ``<account key>/<steps>/<chain>/<index>``. The expensive part of
BIP32 public derivation is one elliptic-curve operation per step, so we derive the
*chain-level* key (``.../0`` or ``.../1``) once and then only the last, non-hardened step for
each index:

    I   = HMAC-SHA512(chain_code, chain_pubkey || index)
    K_i = chain_pubkey + I[:32]·G

computed directly with embit's bundled libsecp256k1 through ctypes (``ec_pubkey_create`` for
the fixed-base multiplication, which uses the precomputed generator table, then
``ec_pubkey_combine``). That skips embit's ``HDKey`` object construction and locking and is
about twice as fast as ``HDKey.derive`` per index (see ``bench/derivation.py``).

If embit could not load libsecp256k1 and fell back to its pure-Python implementation,
everything still works through embit (slowly); :func:`secp256k1_backend` tells the app
so it can warn at start-up.

Objects here are cheap to build; a :class:`ScriptPubKeyDeriver` holds small ctypes buffers
and must not be shared between threads while deriving.
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import struct
from collections.abc import Sequence
from typing import Any

from embit.bip32 import HDKey
from embit.ec import PublicKey

from app.bitcoin import scripts
from app.bitcoin.descriptors import Chain, WalletDescriptor
from app.bitcoin.keys import HARDENED, ExtendedPubKey, hash160
from app.bitcoin.scripts import ScriptType

_pack_index = struct.Struct(">I").pack
_hmac_digest = hmac.digest
_EC_COMPRESSED = 0b0100000010
_TAPTWEAK = hashlib.sha256(hashlib.sha256(b"TapTweak").digest() * 2)


class _Secp:
    """Direct ctypes calls into the libsecp256k1 that embit bundles (no argument conversion)."""

    def __init__(self) -> None:
        from embit.util import ctypes_secp256k1 as cs  # raises if the library is missing

        path = cs._find_library()
        if not path:
            raise RuntimeError("libsecp256k1 not found")
        lib = ctypes.CDLL(path)
        self.ctx = ctypes.c_void_p(cs._secp.ctx)  # embit's context (created with SIGN|VERIFY)
        self.create = lib.secp256k1_ec_pubkey_create
        self.combine = lib.secp256k1_ec_pubkey_combine
        self.serialize = lib.secp256k1_ec_pubkey_serialize
        self.parse = lib.secp256k1_ec_pubkey_parse
        self.negate = lib.secp256k1_ec_pubkey_negate
        for fn in (self.create, self.combine, self.serialize, self.parse, self.negate):  # pragma: no mutate
            fn.restype = ctypes.c_int


def _load_secp() -> _Secp | None:
    from embit.util import secp256k1 as embit_secp

    if embit_secp.ec_pubkey_parse.__module__ != "embit.util.ctypes_secp256k1":
        return None
    try:
        return _Secp()
    except Exception:
        return None


_SECP: Any = _load_secp()


def secp256k1_backend() -> str:
    """``"libsecp256k1"`` when the fast C library is in use, ``"python"`` when embit fell back."""
    return "libsecp256k1" if _SECP is not None else "python"


class _Workspace:
    """Reusable ctypes buffers for one derivation batch."""

    def __init__(self, parent_sec: bytes) -> None:
        secp = _SECP
        self.parent = ctypes.create_string_buffer(64)  # pragma: no mutate (ABI sizes, docs/testing.md)
        if not secp.parse(secp.ctx, self.parent, parent_sec, ctypes.c_size_t(33)):
            raise ValueError("invalid public key")
        self.tweak_point = ctypes.create_string_buffer(64)  # pragma: no mutate
        self.child = ctypes.create_string_buffer(64)  # pragma: no mutate
        parent, tweak = ctypes.addressof(self.parent), ctypes.addressof(self.tweak_point)
        self.pair = (ctypes.c_void_p * 2)(parent, tweak)  # pragma: no mutate
        self.sec = ctypes.create_string_buffer(33)
        self.size = ctypes.c_size_t(33)  # pragma: no mutate


def _children_c(parent_sec: bytes, chain_code: bytes, start: int, count: int) -> list[bytes]:
    secp = _SECP
    ws = _Workspace(parent_sec)
    ctx, create, combine, serialize = secp.ctx, secp.create, secp.combine, secp.serialize
    tweak_point, child, pair, sec, size = ws.tweak_point, ws.child, ws.pair, ws.sec, ws.size
    size_ref = ctypes.byref(size)
    out: list[bytes] = []
    append = out.append
    for index in range(start, start + count):
        tweak = _hmac_digest(chain_code, parent_sec + _pack_index(index), "sha512")[:32]  # pragma: no mutate
        if not create(ctx, tweak_point, tweak) or not combine(ctx, child, pair, 2):
            raise ValueError(f"BIP32 child {index} is invalid; skip this index")  # p ≈ 2^-127
        size.value = 33  # pragma: no mutate
        serialize(ctx, sec, size_ref, child, _EC_COMPRESSED)
        append(sec.raw)
    return out


def _children_py(parent_sec: bytes, chain_code: bytes, start: int, count: int) -> list[bytes]:
    parent = HDKey(PublicKey.parse(parent_sec), chain_code)
    return [parent.derive([i]).key.sec() for i in range(start, start + count)]


def child_pubkeys(parent_sec: bytes, chain_code: bytes, start: int, count: int) -> list[bytes]:
    """Compressed public keys of children ``start .. start+count-1`` (non-hardened)."""
    if start < 0 or start + count > HARDENED:
        raise ValueError("child indexes must be non-hardened")
    if _SECP is not None:
        return _children_c(parent_sec, chain_code, start, count)
    return _children_py(parent_sec, chain_code, start, count)


def ckd_pub(xpub: ExtendedPubKey, index: int) -> ExtendedPubKey:
    """One BIP32 public child derivation step (``index`` must be non-hardened)."""
    if index & HARDENED:
        raise ValueError("cannot derive a hardened child from a public key")
    digest = _hmac_digest(xpub.chain_code, xpub.pubkey + _pack_index(index), "sha512")
    (pub,) = child_pubkeys(xpub.pubkey, xpub.chain_code, index, 1)
    return ExtendedPubKey(
        depth=xpub.depth + 1,
        parent_fingerprint=hash160(xpub.pubkey)[:4],
        child_number=index,
        chain_code=digest[32:],
        pubkey=pub,
        testnet=xpub.testnet,
    )


def derive_xpub(xpub: ExtendedPubKey, path: Sequence[int]) -> ExtendedPubKey:
    for index in path:
        xpub = ckd_pub(xpub, index)
    return xpub


def taproot_output_keys(internal_keys: Sequence[bytes]) -> list[bytes]:
    """BIP86/BIP341 key-path-only output keys (32-byte x-only) for compressed internal keys."""
    out: list[bytes] = []
    if _SECP is None:
        from embit.util import secp256k1 as es

        for internal in internal_keys:
            xonly = internal[1:]
            h = _TAPTWEAK.copy()
            h.update(xonly)
            raw = es.ec_pubkey_add(es.ec_pubkey_parse(b"\x02" + xonly), h.digest())
            out.append(es.ec_pubkey_serialize(raw)[1:])
        return out
    secp = _SECP
    ctx = secp.ctx
    point = ctypes.create_string_buffer(64)  # pragma: no mutate
    tweak_point = ctypes.create_string_buffer(64)  # pragma: no mutate
    result = ctypes.create_string_buffer(64)  # pragma: no mutate
    pair = (ctypes.c_void_p * 2)(ctypes.addressof(point), ctypes.addressof(tweak_point))  # pragma: no mutate
    sec = ctypes.create_string_buffer(33)
    size = ctypes.c_size_t(33)  # pragma: no mutate
    size_ref = ctypes.byref(size)
    for internal in internal_keys:
        xonly = internal[1:]
        # lift_x: the even-y point with this x coordinate
        if not secp.parse(ctx, point, b"\x02" + xonly, ctypes.c_size_t(33)):
            raise ValueError("invalid internal key")
        h = _TAPTWEAK.copy()
        h.update(xonly)
        if not secp.create(ctx, tweak_point, h.digest()) or not secp.combine(ctx, result, pair, 2):
            raise ValueError("invalid taproot tweak")
        size.value = 33  # pragma: no mutate
        secp.serialize(ctx, sec, size_ref, result, _EC_COMPRESSED)
        out.append(sec.raw[1:])
    return out


class ScriptPubKeyDeriver:
    """Derives the scriptPubKeys of one chain (receive or change) of a wallet descriptor.

    Construction derives each key's chain-level extended key once (all steps after the
    account key up to and including the chain step); :meth:`script_pubkeys` then does only the
    last step per index.
    """

    def __init__(self, descriptor: WalletDescriptor, chain: Chain) -> None:
        self.script_type = descriptor.script_type
        self.threshold = descriptor.threshold
        self.sorted_keys = descriptor.sorted_keys
        self._chain_keys = [derive_xpub(k.xpub, (*k.steps, k.chains[int(chain)])) for k in descriptor.keys]

    def pubkeys(self, start: int, count: int) -> list[list[bytes]]:
        """Per key of the descriptor, the child public keys ``start .. start+count-1``."""
        return [child_pubkeys(k.pubkey, k.chain_code, start, count) for k in self._chain_keys]

    def script_pubkeys(self, start: int, count: int) -> list[bytes]:
        """scriptPubKeys for indexes ``start .. start+count-1`` (bytes, no address encoding)."""
        per_key = self.pubkeys(start, count)
        st = self.script_type
        if st.is_multisig:
            threshold = self.threshold or 1  # pragma: no mutate (a multisig descriptor always has a threshold)
            sort = self.sorted_keys
            return [
                scripts.wrap_multisig(st, scripts.multisig_script(threshold, keys, sort=sort))
                for keys in zip(*per_key, strict=True)  # pragma: no mutate (equal lengths)
            ]
        keys = per_key[0]  # pragma: no mutate (one key: [0] and [-1] are the same)
        if st is ScriptType.P2WPKH:
            new = hashlib.new
            sha = hashlib.sha256
            return [b"\x00\x14" + new("ripemd160", sha(k).digest()).digest() for k in keys]
        if st is ScriptType.P2SH_P2WPKH:
            return [scripts.p2sh_p2wpkh(k) for k in keys]
        if st is ScriptType.P2PKH:
            return [scripts.p2pkh(k) for k in keys]
        if st is ScriptType.P2TR:
            return [scripts.p2tr(x) for x in taproot_output_keys(keys)]
        raise ValueError(f"unsupported script type {st}")


def derive_script_pubkeys(descriptor: WalletDescriptor, chain: Chain, start: int, count: int) -> list[bytes]:
    """Convenience: scriptPubKeys of ``chain`` for indexes ``start .. start+count-1``."""
    return ScriptPubKeyDeriver(descriptor, chain).script_pubkeys(start, count)
