"""Spend templates: how to fill in, size and finalize the inputs and change outputs of one wallet.

A wallet is either a *classic* template (one receive/change pair of single-key or ``multi`` scripts,
:class:`ClassicTemplate`, the fast path with the sizes of :mod:`app.spend.sizes`) or any set of
keychains embit can parse (:class:`DescriptorTemplate`): ``wpkh``, ``sh(wpkh)``, ``pkh``,
``wsh(MINISCRIPT)``, ``sh(wsh(MINISCRIPT))`` and ``tr(KEY[,TREE])`` with miniscript leaves, alone or
mixed (``combo()`` expands into several of them). Keychains a watch-only server cannot describe to a
signer are refused by :func:`template_for` with the reason: ``addr()``/``raw()`` (no keys), bare
``pk()``/``multi()`` and ``rawtr()`` (not parsed by embit: no signer metadata is produced for them),
and legacy ``sh(MINISCRIPT)``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from embit import ec, hashes
from embit.descriptor import Descriptor
from embit.descriptor.taptree import _tweak_helper
from embit.psbt import PSBT, DerivationPath, InputScope, OutputScope
from embit.script import Script, Witness
from embit.transaction import SIGHASH, Transaction, TransactionOutput
from embit.util import secp256k1

from app.bitcoin.descriptors import WalletDescriptor
from app.bitcoin.keychains import WatchedWallet
from app.bitcoin.scripts import ScriptType
from app.errors import BadInput
from app.spend import psbt as P
from app.spend import satisfy as S
from app.spend import sizes
from app.spend import timelocks as TL

TAP_TREE_OUT = b"\x06"  # PSBT_OUT_TAP_TREE (BIP-371): embit keeps it among the unknown keys


@dataclass(frozen=True, slots=True)
class InputPlan:
    """How one coin is spent by the chosen signers now: the time locks its satisfaction needs
    (``older``: the input's nSequence; ``after``: the least nLockTime), or why it cannot be."""

    older: int | None = None
    after: int | None = None
    wait: str | None = None  # locked: what is still to wait ("3 blocks (until height 120)")
    unsatisfiable: bool = False  # these signers can never spend it

    @property
    def ok(self) -> bool:
        return self.wait is None and not self.unsatisfiable


FREE = InputPlan()
PREIMAGE_KEYS = {"ripemd160": 0x0A, "sha256": 0x0B, "hash160": 0x0C, "hash256": 0x0D}  # PSBT_IN_*
PREIMAGE_TYPES = frozenset(PREIMAGE_KEYS.values())


def preimage_hashes(preimage: bytes) -> dict[tuple[str, bytes], bytes]:
    """(kind, hash) -> preimage for the four miniscript hash kinds."""
    sha = hashlib.sha256(preimage).digest()
    return {
        ("sha256", sha): preimage,
        ("hash256", hashlib.sha256(sha).digest()): preimage,
        ("ripemd160", hashlib.new("ripemd160", preimage).digest()): preimage,
        ("hash160", hashlib.new("ripemd160", sha).digest()): preimage,
    }


class SpendTemplate(Protocol):
    threshold: int
    fingerprints: list[str]
    any_segwit: bool
    change_spk_len: int
    change_chain: int
    has_locks: bool
    needs_times: bool  # a time-based lock: the tip's median time past is needed
    needs_coin_times: bool  # a time-based older(): the coins' blocks' median times past too

    def input_weight(self, chain: int) -> int: ...
    def needs_prev_tx(self, chain: int) -> bool: ...
    def is_internal(self, chain: int) -> bool: ...
    def script_pubkey(self, chain: int, index: int) -> bytes: ...
    def fill_input(self, scope: InputScope, chain: int, index: int, value: int, prev: Transaction | None) -> None: ...
    def fill_output(self, scope: OutputScope, chain: int, index: int) -> None: ...
    def finalize_input(
        self, psbt: PSBT, i: int, chain: int, index: int, preimages: dict[tuple[str, bytes], bytes] | None = None
    ) -> bool: ...
    def complete(self, psbt: PSBT, i: int, chain: int, index: int, signed: int) -> bool: ...
    def derived_position(self, scope: Any, spk: bytes) -> tuple[int, int] | None: ...
    def plan(
        self, chain: int, signers: frozenset[str] | None, coin_height: int | None, state: TL.ChainState
    ) -> InputPlan: ...
    def missing(
        self, psbt: PSBT, i: int, chain: int, index: int, preimages: dict[tuple[str, bytes], bytes] | None = None
    ) -> str | None: ...


# ------------------------------------------------------------------------------ classic


class ClassicTemplate:
    """Single-key and ``multi``/``sortedmulti`` receive/change wallets (keychain 0 receive, 1 change)."""

    def __init__(self, desc: WalletDescriptor) -> None:
        self.desc = desc
        self.st = desc.script_type
        self.threshold = desc.threshold or 1
        self.fingerprints = [(k.origin.fingerprint if k.origin else k.xpub.fingerprint).hex() for k in desc.keys]
        self.any_segwit = sizes.is_segwit(self.st)
        self.change_spk_len = len(P.script_info(desc, 1, 0).script_pubkey)
        self.change_chain = 1
        self.has_locks = self.needs_times = self.needs_coin_times = False
        self._in_w = sizes.input_weight(self.st, self.threshold, len(desc.keys))

    def input_weight(self, chain: int) -> int:
        return self._in_w

    def needs_prev_tx(self, chain: int) -> bool:
        return self.st is not ScriptType.P2TR

    def is_internal(self, chain: int) -> bool:
        return chain == 1

    def script_pubkey(self, chain: int, index: int) -> bytes:
        return P.script_info(self.desc, chain, index).script_pubkey

    def fill_input(self, scope: InputScope, chain: int, index: int, value: int, prev: Transaction | None) -> None:
        info = P.script_info(self.desc, chain, index)
        if prev is not None:
            scope.non_witness_utxo = prev
        if self.st not in (ScriptType.P2PKH, ScriptType.P2SH):
            scope.witness_utxo = TransactionOutput(value, Script(info.script_pubkey))
        P.fill_keys(scope, info, self.st)

    def fill_output(self, scope: OutputScope, chain: int, index: int) -> None:
        P.fill_keys(scope, P.script_info(self.desc, chain, index), self.st)

    def finalize_input(
        self, psbt: PSBT, i: int, chain: int, index: int, preimages: dict[tuple[str, bytes], bytes] | None = None
    ) -> bool:
        return P.finalize_input(psbt, i, self.st, self.threshold)

    def plan(
        self, chain: int, signers: frozenset[str] | None, coin_height: int | None, state: TL.ChainState
    ) -> InputPlan:
        if signers is None or sum(1 for f in self.fingerprints if f in signers) >= self.threshold:
            return FREE
        return InputPlan(unsatisfiable=True)

    def missing(
        self, psbt: PSBT, i: int, chain: int, index: int, preimages: dict[tuple[str, bytes], bytes] | None = None
    ) -> str | None:
        return None

    def complete(self, psbt: PSBT, i: int, chain: int, index: int, signed: int) -> bool:
        return signed >= self.threshold

    def derived_position(self, scope: Any, spk: bytes) -> tuple[int, int] | None:
        """(chain, index) when the scope's key derivations, taken as ``.../chain/index`` of this
        wallet's keys, give exactly ``spk`` (so an output a signer calls change really is ours)."""
        ders = list(scope.bip32_derivations.values()) + [d for _l, d in scope.taproot_bip32_derivations.values()]
        for der in ders[:1]:
            path = list(der.derivation)
            if len(path) < 2 or path[-2] not in (0, 1) or path[-1] >= 2**31:
                return None
            try:
                if self.script_pubkey(path[-2], path[-1]) == spk:
                    return int(path[-2]), int(path[-1])
            except Exception:
                return None
        return None


# --------------------------------------------------------------------------- descriptors


def _unsupported(kind: str, why: str) -> BadInput:
    return BadInput(
        f"Spending from this wallet is not supported: its {kind} keychain {why}.",
        field="walletId",
        hint="Spend these coins with the wallet software that holds the keys; the server can still watch them.",
    )


@dataclass(frozen=True)
class _Leaf:
    miniscript: Any
    script: bytes
    version: int
    control: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class _Derived:
    """One keychain at one index: everything the PSBT and the finalizer need."""

    kind: str
    spk: bytes
    keys: list[Any]  # embit descriptor keys with their full origin
    witness_script: bytes | None = None
    redeem_script: bytes | None = None
    miniscript: Any = None
    internal_key: bytes | None = None  # x-only
    merkle_root: bytes | None = None
    leaves: list[_Leaf] = field(default_factory=list)


class _Keychain:
    DERIVED_CACHE = 4096  # derived indexes kept per keychain (embit derivation costs ~2 ms a key)

    def __init__(self, descriptor: str, internal: bool) -> None:
        body = descriptor.rpartition("#")[0] or descriptor
        self.internal = internal
        self._derived: dict[int, _Derived] = {}
        top = body.split("(", 1)[0]
        if top in ("addr", "raw"):
            raise _unsupported(f"{top}()", "has no keys, so no signer can be told how to sign for it")
        if top == "rawtr":
            raise _unsupported(
                "rawtr()",
                "has an untweaked output key: BIP-371 has no PSBT field telling a signer not to apply the "
                "taproot tweak, so no hardware signer can be asked to sign for it",
            )
        bare = top in ("pk", "multi", "sortedmulti")
        if bare:  # embit parses these only as miniscript: the same script, used as the scriptPubKey
            body = f"sh({body})"
        if body.startswith("tr("):  # tapscript keys are x-only (BIP-386)
            body = re.sub(r"(?<![0-9a-fA-F])0[23]([0-9a-fA-F]{64})(?![0-9a-fA-F])", r"\1", body)
        self.desc = Descriptor.from_string(body)
        d = self.desc
        if d.taproot:
            self.kind = "tr"
        elif bare:
            self.kind = "bare"
        elif d.miniscript is not None:
            self.kind = ("sh-wsh" if d.wsh else "sh") if d.sh else "wsh"
        elif d.wpkh:
            self.kind = "sh-wpkh" if d.sh else "wpkh"
        else:
            self.kind = "pkh"
        self.segwit = self.kind not in LEGACY_KINDS
        dv0 = self.derive(0)
        self.weight = self._max_weight(dv0)
        locks = [v for ms, _tap, _extra in self._scripts(dv0) for v in S.lock_values(ms)]
        self.has_locks = bool(locks)
        # time-based locks need median times past: the tip's (after/older), the coins' blocks' (older)
        self.needs_coin_times = any(k == "older" and TL.is_time_older(n) for k, n in locks)
        self.needs_times = self.needs_coin_times or any(k == "after" and TL.is_time_after(n) for k, n in locks)

    def derive(self, index: int) -> _Derived:
        found = self._derived.get(index)
        if found is None:
            if len(self._derived) >= self.DERIVED_CACHE:
                self._derived.clear()
            found = self._derived[index] = self._derive(index)
        return found

    def _derive(self, index: int) -> _Derived:
        d = self.desc.derive(index if self.desc.is_wildcard else 0)
        spk = bytes(d.script_pubkey().data)
        keys = list(d.keys)
        if self.kind in ("wsh", "sh-wsh"):
            ws = bytes(d.witness_script().data)
            rs = b"\x00\x20" + hashlib.sha256(ws).digest() if self.kind == "sh-wsh" else None
            return _Derived(self.kind, spk, keys, ws, rs, d.miniscript)
        if self.kind == "sh":
            return _Derived("sh", spk, keys, redeem_script=bytes(d.miniscript.compile()), miniscript=d.miniscript)
        if self.kind == "bare":
            return _Derived("bare", bytes(d.miniscript.compile()), keys, miniscript=d.miniscript)
        if self.kind == "tr":
            internal = bytes(d.key.get_public_key().xonly())
            if not d.taptree:
                return _Derived("tr", spk, keys, internal_key=internal)
            pairs, root = _tweak_helper(d.taptree)
            parity = _output_parity(internal, root)
            leaves = []
            for leaf, path in pairs:
                script = bytes(leaf.miniscript.compile())
                leaves.append(
                    _Leaf(
                        leaf.miniscript,
                        script,
                        leaf.version,
                        bytes([leaf.version | parity]) + internal + path,
                        hashes.tagged_hash("TapLeaf", leaf.serialize()),
                    )
                )
            return _Derived("tr", spk, keys, internal_key=internal, merkle_root=root, leaves=leaves)
        rs = bytes(d.redeem_script().data) if self.kind == "sh-wpkh" else None
        return _Derived(self.kind, spk, keys, redeem_script=rs)

    def _scripts(self, dv: _Derived) -> list[tuple[Any, bool, list[bytes]]]:
        """(miniscript, tapscript?, what the witness adds after the satisfaction) per script path."""
        if dv.miniscript is not None:
            return [(dv.miniscript, False, [dv.witness_script or dv.redeem_script or b""])]
        return [(leaf.miniscript, True, [leaf.script, leaf.control]) for leaf in dv.leaves]

    def plan(self, signers: frozenset[str] | None, coin_height: int | None, state: TL.ChainState) -> InputPlan:
        """Which time locks a coin of this keychain needs to be spent by ``signers`` (master
        fingerprints; None: every key): none when a branch without time locks is theirs (so the
        primary path is always preferred), else the smallest satisfaction whose locks the coin
        meets at ``state``; locked coins say how long is left. Hash preimages count as given
        (they come at finalizing). The script's shape is the same at every index: index 0 decides."""
        dv = self.derive(0)
        fp_of: dict[bytes, str] = {}
        for k in dv.keys:
            pub, fp = k.get_public_key(), _der(k).fingerprint.hex()
            fp_of[bytes(pub.sec())] = fp
            fp_of[bytes(pub.xonly())] = fp

        def allowed(key: bytes | None) -> bool:
            return signers is None or (key is not None and fp_of.get(key) in signers)

        if self.kind in ("pkh", "wpkh", "sh-wpkh"):
            return FREE if allowed(bytes(dv.keys[0].get_public_key().sec())) else InputPlan(unsatisfiable=True)
        if self.kind == "tr" and allowed(dv.internal_key):
            return FREE  # the key path
        paths = self._scripts(dv)

        def best(older: Any, after: Any) -> S.Locks | None:
            found: tuple[int, S.Locks] | None = None
            for ms, tap, extra in paths:
                oracle = S.Oracle(functools.partial(_dummy_sig, allowed, tap), _any_preimage, older, after)
                sat, locks = S.satisfy_locks(ms, oracle, tapscript=tap)
                if sat is not None and (found is None or S.witness_size([*sat, *extra]) < found[0]):
                    found = (S.witness_size([*sat, *extra]), locks)
            return found[1] if found is not None else None

        if best(lambda _n: False, lambda _t: False) is not None:
            return FREE
        now = best(lambda n: state.older_met(n, coin_height), state.after_met)
        if now is not None:
            return InputPlan(max(now.older, default=None), max(now.after, default=None))
        ever = best(lambda _n: True, lambda _t: True)
        if ever is None:
            return InputPlan(unsatisfiable=True)
        waits = [state.older_wait(n, coin_height) for n in ever.older if not state.older_met(n, coin_height)]
        waits += [state.after_wait(t) for t in ever.after if not state.after_met(t)]
        return InputPlan(wait="; ".join(waits) or "its time lock")

    def _max_weight(self, dv: _Derived) -> int:
        """Upper bound of one signed input's weight (see :mod:`app.spend.satisfy`)."""
        base = 36 + 4
        if self.kind == "pkh":
            return sizes.input_weight(ScriptType.P2PKH)
        if self.kind == "wpkh":
            return sizes.input_weight(ScriptType.P2WPKH)
        if self.kind == "sh-wpkh":
            return sizes.input_weight(ScriptType.P2SH_P2WPKH)
        if self.kind in LEGACY_KINDS:
            sat, _ = S.satisfy(dv.miniscript, S.worst_case_oracle(False), tapscript=False, maximize=True)
            if sat is None:
                raise _unsupported(f"{self.kind}()", "has a miniscript that can never be satisfied")
            script_sig = len(legacy_script_sig(sat, dv.redeem_script))
            return 4 * (base + sizes._varint_len(script_sig) + script_sig)
        if self.kind in ("wsh", "sh-wsh"):
            sat, _ = S.satisfy(dv.miniscript, S.worst_case_oracle(False), tapscript=False, maximize=True)
            if sat is None:
                raise _unsupported("wsh()", "has a miniscript that can never be satisfied")
            ws = dv.witness_script or b""
            witness = sizes._varint_len(len(sat) + 1) + S.witness_size(sat) + S.witness_size([ws])
            script_sig = 1 + (35 if self.kind == "sh-wsh" else 0)
            return 4 * (base + script_sig) + witness
        # taproot: the largest of the key path and every leaf
        best = 1 + S.witness_size([b"\x00" * S.MAX_SCHNORR_SIG])
        for leaf in dv.leaves:
            sat, _ = S.satisfy(leaf.miniscript, S.worst_case_oracle(True), tapscript=True, maximize=True)
            if sat is None:
                continue
            items = [*sat, leaf.script, leaf.control]
            best = max(best, sizes._varint_len(len(items)) + S.witness_size(items))
        return 4 * (base + 1) + best


LEGACY_KINDS = ("pkh", "sh", "bare")  # no witness: inputs carry NON_WITNESS_UTXO only


def minimal_push(item: bytes) -> bytes:
    """The push of one stack item in a scriptSig as Core's MINIMALDATA policy wants it."""
    if item == b"":
        return b"\x00"
    if len(item) == 1 and 1 <= item[0] <= 16:
        return bytes([0x50 + item[0]])
    if item == b"\x81":
        return b"\x4f"
    return P.push(item)


def legacy_script_sig(sat: list[bytes], redeem_script: bytes | None) -> bytes:
    """scriptSig of a legacy P2SH (the satisfaction then the redeem script) or bare spend."""
    return b"".join(minimal_push(x) for x in sat) + (P.push(redeem_script) if redeem_script is not None else b"")


def _dummy_sig(allowed: Any, tapscript: bool, key: bytes) -> bytes | None:
    return b"\x00" * (S.MAX_SCHNORR_SIG if tapscript else S.MAX_ECDSA_SIG) if allowed(key) else None


def _any_preimage(_kind: str, _h: bytes) -> bytes:
    return b"\x00" * 32


def _output_parity(internal: bytes, root: bytes) -> int:
    tweak = hashes.tagged_hash("TapTweak", internal + root)
    point = secp256k1.ec_pubkey_add(secp256k1.ec_pubkey_parse(b"\x02" + internal), tweak)
    return int(secp256k1.ec_pubkey_serialize(point)[0] & 1)


def _der(key: Any) -> DerivationPath:
    """The key's origin; a plain public key without one gets HASH160(key)[:4] and an empty path,
    as Bitcoin Core gives constant keys (its signer matches keys by that)."""
    if key.origin is not None:
        return DerivationPath(key.origin.fingerprint, list(key.origin.derivation))
    if key.fingerprint is not None:
        return DerivationPath(key.fingerprint, [])
    sec = bytes(key.get_public_key().sec())
    return DerivationPath(hashlib.new("ripemd160", hashlib.sha256(sec).digest()).digest()[:4], [])


class DescriptorTemplate:
    """Every wallet whose keychains embit parses: miniscript, taproot trees, mixed script types."""

    def __init__(self, keychains: tuple[tuple[str, bool], ...], threshold: int | None) -> None:
        self.keychains = [_Keychain(descriptor, internal) for descriptor, internal in keychains]
        self.threshold = threshold or 1
        fps: list[str] = []
        for kc in self.keychains:
            for k in kc.derive(0).keys:
                fp = _der(k).fingerprint.hex()
                if fp not in fps:
                    fps.append(fp)
        self.fingerprints = fps
        self.any_segwit = any(kc.segwit for kc in self.keychains)
        self.change_chain = next((i for i, kc in enumerate(self.keychains) if kc.internal), 0)
        self.change_spk_len = len(self.keychains[self.change_chain].derive(0).spk)
        self.has_locks = any(kc.has_locks for kc in self.keychains)
        self.needs_times = any(kc.needs_times for kc in self.keychains)
        self.needs_coin_times = any(kc.needs_coin_times for kc in self.keychains)

    def input_weight(self, chain: int) -> int:
        return self.keychains[chain].weight

    def needs_prev_tx(self, chain: int) -> bool:
        return self.keychains[chain].kind != "tr"

    def is_internal(self, chain: int) -> bool:
        return 0 <= chain < len(self.keychains) and self.keychains[chain].internal

    def script_pubkey(self, chain: int, index: int) -> bytes:
        return self.keychains[chain].derive(index).spk

    def fill_input(self, scope: InputScope, chain: int, index: int, value: int, prev: Transaction | None) -> None:
        dv = self.keychains[chain].derive(index)
        if prev is not None:
            scope.non_witness_utxo = prev
        if dv.kind not in LEGACY_KINDS:
            scope.witness_utxo = TransactionOutput(value, Script(dv.spk))
        self._fill(scope, dv, is_input=True)

    def fill_output(self, scope: OutputScope, chain: int, index: int) -> None:
        self._fill(scope, self.keychains[chain].derive(index), is_input=False)

    @staticmethod
    def _fill(scope: Any, dv: _Derived, *, is_input: bool) -> None:
        if dv.kind == "tr":
            assert dv.internal_key is not None
            scope.taproot_internal_key = ec.PublicKey.from_xonly(dv.internal_key)
            leaf_hashes: dict[bytes, list[bytes]] = {}
            for leaf in dv.leaves:
                for k in leaf.miniscript.keys:
                    leaf_hashes.setdefault(bytes(k.get_public_key().xonly()), []).append(leaf.leaf_hash)
            for k in dv.keys:
                x = bytes(k.get_public_key().xonly())
                scope.taproot_bip32_derivations[ec.PublicKey.from_xonly(x)] = (leaf_hashes.get(x, []), _der(k))
            if is_input:
                if dv.merkle_root is not None:
                    scope.taproot_merkle_root = dv.merkle_root
                for leaf in dv.leaves:
                    scope.taproot_scripts[leaf.control] = leaf.script + bytes([leaf.version])
            elif dv.leaves:
                tree = b"".join(
                    bytes([(len(leaf.control) - 33) // 32, leaf.version]) + Script(leaf.script).serialize()
                    for leaf in dv.leaves
                )
                scope.unknown = {**scope.unknown, TAP_TREE_OUT: tree}  # embit's default dict is shared
            return
        for k in dv.keys:
            scope.bip32_derivations[k.get_public_key()] = _der(k)
        if dv.redeem_script is not None:
            scope.redeem_script = Script(dv.redeem_script)
        if dv.witness_script is not None:
            scope.witness_script = Script(dv.witness_script)

    # -- finalizing -------------------------------------------------------------------------

    @staticmethod
    def _oracle(
        psbt: PSBT, i: int, sig: Any, extra: dict[tuple[str, bytes], bytes] | None, *, locks_met: bool = False
    ) -> S.Oracle:
        """Signatures from ``sig``; preimages from the input's PSBT_IN_SHA256/HASH256/RIPEMD160/HASH160
        fields or ``extra`` (checked: 32 bytes hashing to the script's hash); ``older``/``after``
        as the transaction's nSequence and nLockTime allow (or all, with ``locks_met``)."""
        scope = psbt.inputs[i]
        seq, locktime, version = int(psbt.tx.vin[i].sequence), int(psbt.tx.locktime), int(psbt.tx.version)

        def preimage(kind: str, h: bytes) -> bytes | None:
            found = scope.unknown.get(bytes([PREIMAGE_KEYS[kind]]) + h)
            for p in (bytes(found) if found is not None else None, (extra or {}).get((kind, h))):
                if p is not None and len(p) == 32 and preimage_hashes(p).get((kind, h)) == p:
                    return p
            return None

        if locks_met:
            return S.Oracle(sig, preimage, lambda _n: True, lambda _t: True)
        return S.Oracle(
            sig,
            preimage,
            lambda n: TL.sequence_allows(seq, n, version),
            lambda t: TL.locktime_allows(locktime, seq, t),
        )

    def _witness(
        self, psbt: PSBT, i: int, dv: _Derived, extra: dict[tuple[str, bytes], bytes] | None = None
    ) -> tuple[list[bytes], bytes | None] | None:
        """(witness, scriptSig) from the input's verified signatures, or None while some are missing."""
        scope = psbt.inputs[i]
        if dv.kind == "tr":
            key_sig = P.taproot_key_sig(scope)
            if key_sig is None and scope.final_scriptwitness is not None and len(scope.final_scriptwitness.items) == 1:
                key_sig = bytes(scope.final_scriptwitness.items[0])
            if key_sig is not None:
                sighash = key_sig[64] if len(key_sig) == 65 else SIGHASH.DEFAULT
                out_key = ec.PublicKey.from_xonly(dv.spk[2:])
                if len(key_sig) not in (64, 65) or not out_key.schnorr_verify(
                    ec.SchnorrSig.parse(key_sig[:64]), psbt.sighash(i, sighash=sighash)
                ):
                    raise BadInput(f"Input {i}: the taproot signature does not verify.", field="psbt")
                return [key_sig], None
            best: list[bytes] | None = None
            for leaf in dv.leaves:
                sigs = {
                    bytes(pub.xonly()): bytes(sig)
                    for (pub, lh), sig in scope.taproot_sigs.items()
                    if lh == leaf.leaf_hash
                }
                for x, sig in sigs.items():
                    _check_schnorr(psbt, i, leaf, x, sig)
                sat, _ = S.satisfy(leaf.miniscript, self._oracle(psbt, i, sigs.get, extra), tapscript=True)
                if sat is not None:
                    w = [*sat, leaf.script, leaf.control]
                    if best is None or S.witness_size(w) < S.witness_size(best):
                        best = w
            return (best, None) if best is not None else None
        sigs = {bytes(pub.sec()): bytes(sig) for pub, sig in scope.partial_sigs.items()}
        if dv.kind in ("sh", "bare"):
            code = dv.redeem_script if dv.redeem_script is not None else dv.spk
            for pub, sig in sigs.items():
                _check_ecdsa(psbt, i, code, pub, sig, legacy=True)
            sat, _ = S.satisfy(dv.miniscript, self._oracle(psbt, i, sigs.get, extra), tapscript=False)
            return None if sat is None else ([], legacy_script_sig(sat, dv.redeem_script))
        if dv.kind in ("wsh", "sh-wsh"):
            assert dv.witness_script is not None
            for pub, sig in sigs.items():
                _check_ecdsa(psbt, i, dv.witness_script, pub, sig)
            sat, _ = S.satisfy(dv.miniscript, self._oracle(psbt, i, sigs.get, extra), tapscript=False)
            if sat is None:
                return None
            script_sig = P.push(dv.redeem_script) if dv.redeem_script is not None else None
            return [*sat, dv.witness_script], script_sig
        pub = bytes(dv.keys[0].get_public_key().sec())
        single = sigs.get(pub)
        if single is None:
            return None
        sig = single
        code = b"\x76\xa9\x14" + hashlib.new("ripemd160", hashlib.sha256(pub).digest()).digest() + b"\x88\xac"
        if dv.kind == "pkh":
            _check_ecdsa(psbt, i, code, pub, sig, legacy=True)
            return [], P.push(sig) + P.push(pub)
        _check_ecdsa(psbt, i, code, pub, sig)
        return [sig, pub], (P.push(dv.redeem_script) if dv.redeem_script is not None else None)

    def finalize_input(
        self, psbt: PSBT, i: int, chain: int, index: int, preimages: dict[tuple[str, bytes], bytes] | None = None
    ) -> bool:
        scope = psbt.inputs[i]
        dv = self.keychains[chain].derive(index)
        if dv.kind != "tr" and (scope.final_scriptwitness is not None or scope.final_scriptsig is not None):
            return True  # a signer finalized it itself: the node verifies it on broadcast
        built = self._witness(psbt, i, dv, preimages)
        if built is None:
            return False
        witness, script_sig = built
        scope.final_scriptwitness = Witness(witness) if witness else None
        scope.final_scriptsig = Script(script_sig) if script_sig is not None else None
        scope.unknown = {k: v for k, v in scope.unknown.items() if k != P.TAP_KEY_SIG and k[0] not in PREIMAGE_TYPES}
        scope.taproot_sigs.clear()
        scope.partial_sigs.clear()
        return True

    def plan(
        self, chain: int, signers: frozenset[str] | None, coin_height: int | None, state: TL.ChainState
    ) -> InputPlan:
        return self.keychains[chain].plan(signers, coin_height, state)

    def missing(
        self, psbt: PSBT, i: int, chain: int, index: int, preimages: dict[tuple[str, bytes], bytes] | None = None
    ) -> str | None:
        """Why input ``i`` cannot be finalized although its signatures suffice: a hash preimage
        not given, or a time lock the transaction's nSequence/nLockTime does not meet."""
        dv = self.keychains[chain].derive(index)
        scope = psbt.inputs[i]
        tries: list[tuple[Any, bool, Any]] = []
        if dv.kind == "tr":
            for leaf in dv.leaves:
                sigs = {bytes(p.xonly()): bytes(v) for (p, lh), v in scope.taproot_sigs.items() if lh == leaf.leaf_hash}
                tries.append((leaf.miniscript, True, sigs.get))
        elif dv.miniscript is not None:
            tries.append((dv.miniscript, False, {bytes(p.sec()): bytes(v) for p, v in scope.partial_sigs.items()}.get))
        seq, locktime, version = int(psbt.tx.vin[i].sequence), int(psbt.tx.locktime), int(psbt.tx.version)
        for ms, tap, sig in tries:
            anything = S.Oracle(sig, lambda _k, _h: b"\x00" * 32, lambda _n: True, lambda _t: True)
            sat, want = S.satisfy_locks(ms, anything, tapscript=tap)
            if sat is None:
                continue  # signatures are missing
            real = self._oracle(psbt, i, sig, preimages)
            reasons = [f"the {k} preimage of {h.hex()}" for k, h in want.preimages if real.preimage(k, h) is None]
            reasons += [
                f"older({n}) needs nSequence {n}, the input has {seq:#x}"
                for n in want.older
                if not TL.sequence_allows(seq, n, version)
            ]
            reasons += [
                f"after({t}) needs nLockTime >= {t}, the transaction has {locktime}"
                for t in want.after
                if not TL.locktime_allows(locktime, seq, t)
            ]
            if reasons:
                return "; ".join(reasons)
        return None

    def complete(self, psbt: PSBT, i: int, chain: int, index: int, signed: int) -> bool:
        try:
            return self._witness(psbt, i, self.keychains[chain].derive(index)) is not None
        except BadInput:
            return False

    def derived_position(self, scope: Any, spk: bytes) -> tuple[int, int] | None:
        """(keychain, index) of ``spk`` found through the scope's key derivations, or None."""
        ders = list(scope.bip32_derivations.values()) + [d for _l, d in scope.taproot_bip32_derivations.values()]
        for der in ders:
            for n, kc in enumerate(self.keychains):
                found = kc.desc.check_derivation(der)
                if found is None:
                    continue
                index, _branch = found
                try:
                    if kc.derive(index).spk == spk:
                        return n, int(index)
                except Exception:
                    continue
        return None


def _check_ecdsa(psbt: PSBT, i: int, code: bytes, pub: bytes, sig: bytes, *, legacy: bool = False) -> None:
    try:
        if legacy:
            h = psbt.tx.sighash_legacy(i, Script(code), sig[-1])
        else:
            h = psbt.tx.sighash_segwit(i, Script(code), psbt.utxo(i).value, sig[-1])
        ok = ec.PublicKey.parse(pub).verify(ec.Signature.parse(sig[:-1]), h)
    except Exception:
        ok = False
    if not ok:
        raise BadInput(f"Input {i}: a signature does not verify (tampered or for another transaction).", field="psbt")


def _check_schnorr(psbt: PSBT, i: int, leaf: _Leaf, xonly: bytes, sig: bytes) -> None:
    try:
        sighash = sig[64] if len(sig) == 65 else SIGHASH.DEFAULT
        h = psbt.sighash(i, sighash=sighash, ext_flag=1, script=Script(leaf.script), leaf_version=leaf.version)
        ok = len(sig) in (64, 65) and ec.PublicKey.from_xonly(xonly).schnorr_verify(ec.SchnorrSig.parse(sig[:64]), h)
    except Exception:
        ok = False
    if not ok:
        raise BadInput(f"Input {i}: a script-path signature does not verify (tampered?).", field="psbt")


def template_for(watched: WatchedWallet) -> SpendTemplate:
    """The wallet's template; ``BadInput`` (``walletId``) naming the keychain that cannot be spent."""
    if watched.legacy is not None:
        return ClassicTemplate(watched.legacy)
    chains = tuple((k.descriptor, k.internal) for k in watched.keychains)
    try:
        return _descriptor_template(chains, watched.threshold)
    except BadInput:
        raise
    except Exception as exc:  # embit could not build what signers need; its message may quote keys
        raise BadInput(
            f"Spending from this wallet is not supported: its descriptors could not be prepared for signers "
            f"({type(exc).__name__}).",
            field="walletId",
        ) from None


@functools.lru_cache(maxsize=128)
def _descriptor_template(keychains: tuple[tuple[str, bool], ...], threshold: int | None) -> DescriptorTemplate:
    """Templates are immutable: parsing, sizing and derivations are reused across requests."""
    return DescriptorTemplate(keychains, threshold)
