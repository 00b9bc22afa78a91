"""PSBT (BIP-174 v0) building, reading, combining and finalizing for the wallets' script types.

Everything a hardware signer needs to sign and to recognise change is filled in from the wallet's
public descriptor: ``BIP32_DERIVATION`` (``TAP_BIP32_DERIVATION`` and the internal key for taproot)
for every key of every input and change output, the redeem/witness scripts, ``WITNESS_UTXO`` for
segwit inputs and ``NON_WITNESS_UTXO`` (the full previous transaction) for legacy and segwit v0
inputs (signers check the amount against it since the 2020 segwit fee attack).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from embit import ec
from embit.psbt import PSBT, DerivationPath, InputScope, OutputScope
from embit.script import Script, Witness
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput

from app.bitcoin import scripts
from app.bitcoin.derive import derive_xpub, taproot_output_keys
from app.bitcoin.descriptors import KeyExpression, WalletDescriptor
from app.bitcoin.scripts import ScriptType
from app.errors import BadInput
from app.spend import psbt_v2

if TYPE_CHECKING:
    from app.spend.templates import SpendTemplate

PSBT_MAX_BYTES = 4_000_000
SEQUENCE_RBF_DEFAULT = 0xFFFFFFFD


@dataclass(frozen=True, slots=True)
class KeyPath:
    pubkey: bytes  # 33-byte compressed
    fingerprint: bytes
    path: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ScriptInfo:
    """What the descriptor says about one (chain, index): its scriptPubKey, keys and scripts."""

    script_pubkey: bytes
    keys: tuple[KeyPath, ...]
    redeem_script: bytes | None
    witness_script: bytes | None


def _key_path(k: KeyExpression, chain: int, index: int) -> KeyPath:
    child = derive_xpub(k.xpub, (*k.steps, k.chains[chain], index))
    if k.origin is not None:
        fp, base = k.origin.fingerprint, k.origin.path
    else:  # no origin: the xpub is its own root
        fp, base = k.xpub.fingerprint, ()
    return KeyPath(child.pubkey, fp, (*base, *k.steps, k.chains[chain], index))


def script_info(desc: WalletDescriptor, chain: int, index: int) -> ScriptInfo:
    keys = tuple(_key_path(k, chain, index) for k in desc.keys)
    st = desc.script_type
    if st.is_multisig:
        ms = scripts.multisig_script(desc.threshold or 1, [k.pubkey for k in keys], sort=desc.sorted_keys)
        spk = scripts.wrap_multisig(st, ms)
        if st is ScriptType.P2WSH:
            return ScriptInfo(spk, keys, None, ms)
        if st is ScriptType.P2SH_P2WSH:
            return ScriptInfo(spk, keys, b"\x00\x20" + _sha256(ms), ms)
        return ScriptInfo(spk, keys, ms, None)
    pub = keys[0].pubkey
    if st is ScriptType.P2WPKH:
        return ScriptInfo(scripts.p2wpkh(pub), keys, None, None)
    if st is ScriptType.P2SH_P2WPKH:
        return ScriptInfo(scripts.p2sh_p2wpkh(pub), keys, scripts.p2wpkh(pub), None)
    if st is ScriptType.P2PKH:
        return ScriptInfo(scripts.p2pkh(pub), keys, None, None)
    if st is ScriptType.P2TR:
        return ScriptInfo(scripts.p2tr(taproot_output_keys([pub])[0]), keys, None, None)
    raise ValueError(f"unsupported script type {st}")


def _sha256(b: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(b).digest()


@dataclass(frozen=True, slots=True)
class InputSpec:
    txid: str
    vout: int
    value: int
    chain: int
    index: int
    prev_tx: bytes | None  # the full previous transaction (required unless taproot)
    sequence: int


@dataclass(frozen=True, slots=True)
class OutputSpec:
    script_pubkey: bytes
    value: int
    change_index: int | None = None  # ours (change chain) at this index: derivations are added
    keychain: int = 1  # the wallet keychain of change_index (1: the change chain of classic wallets)


def _derivation(k: KeyPath) -> DerivationPath:
    return DerivationPath(k.fingerprint, list(k.path))


def fill_keys(scope: InputScope | OutputScope, info: ScriptInfo, st: ScriptType) -> None:
    if st is ScriptType.P2TR:
        k = info.keys[0]
        xonly = ec.PublicKey.parse(k.pubkey)
        scope.taproot_internal_key = ec.PublicKey.from_xonly(k.pubkey[1:])
        scope.taproot_bip32_derivations[ec.PublicKey.from_xonly(xonly.xonly())] = ([], _derivation(k))
        return
    for k in info.keys:
        scope.bip32_derivations[ec.PublicKey.parse(k.pubkey)] = _derivation(k)
    if info.redeem_script is not None:
        scope.redeem_script = Script(info.redeem_script)
    if info.witness_script is not None:
        scope.witness_script = Script(info.witness_script)


class _InputScope(InputScope):
    """embit's input scope, except that a PSBT v2 sequence of 0 stays 0 (embit reads it as final)."""

    @property
    def vin(self) -> TransactionInput:
        return TransactionInput(self.txid, self.vout, sequence=0xFFFFFFFF if self.sequence is None else self.sequence)


class SpendPsbt(PSBT):
    """A PSBT as the server handles it: v0 inside; ``source_version`` 2 when it came (or is to go
    out) as BIP-370 v2, with the v2-only fields embit has no place for kept in ``v2_fields``."""

    PSBTIN_CLS = _InputScope
    source_version: int = 0
    v2_fields: psbt_v2.V2Fields | None = None


def build_psbt(
    template: SpendTemplate | WalletDescriptor,
    inputs: Sequence[InputSpec],
    outputs: Sequence[OutputSpec],
    locktime: int,
    *,
    version: int = 0,
) -> SpendPsbt:
    """An unsigned version-2 transaction in a PSBT with every field signers need."""
    from app.spend.templates import ClassicTemplate

    t = ClassicTemplate(template) if isinstance(template, WalletDescriptor) else template
    vin = [TransactionInput(bytes.fromhex(i.txid), i.vout, sequence=i.sequence) for i in inputs]
    vout = [TransactionOutput(o.value, Script(o.script_pubkey)) for o in outputs]
    tx = Transaction(version=2, vin=vin, vout=vout, locktime=locktime)
    psbt = SpendPsbt(tx)
    psbt.source_version = version
    for scope, spec in zip(psbt.inputs, inputs, strict=True):
        prev = None
        if t.needs_prev_tx(spec.chain):
            if spec.prev_tx is None:
                raise ValueError(f"previous transaction {spec.txid} is needed for a non-taproot input")
            prev = Transaction.parse(spec.prev_tx)
            if prev.txid().hex() != spec.txid:
                raise ValueError(f"previous transaction does not match {spec.txid}")
        t.fill_input(scope, spec.chain, spec.index, spec.value, prev)
    for oscope, ospec in zip(psbt.outputs, outputs, strict=True):
        if ospec.change_index is not None:
            t.fill_output(oscope, ospec.keychain, ospec.change_index)
    return psbt


# ------------------------------------------------------------------------------- reading


def parse_psbt(text: str | bytes, *, field: str = "psbt") -> SpendPsbt:
    """A PSBT from base64, hex or raw bytes; ``BadInput`` naming ``field`` when it is not one."""
    raw: bytes
    if isinstance(text, bytes):
        raw = text
    else:
        t = text.strip()
        if len(t) > PSBT_MAX_BYTES * 2:
            raise BadInput("The PSBT is too large.", field=field)
        if t.startswith("70736274ff"):
            raw = bytes.fromhex(t)
        else:
            try:
                raw = base64.b64decode(t, validate=True)
            except (binascii.Error, ValueError):
                raise BadInput("Not a PSBT: expected base64 (or hex) of a BIP-174 PSBT.", field=field) from None
    if not raw.startswith(b"psbt\xff"):
        raise BadInput("Not a PSBT: it does not start with the BIP-174 magic bytes.", field=field)
    try:
        maps = psbt_v2.read_maps(raw)
    except Exception as exc:
        raise BadInput(f"The PSBT could not be read: {exc}.", field=field) from None
    psbt_v2.check(maps, field=field)
    try:
        psbt = SpendPsbt.parse(raw)
    except Exception as exc:  # embit raises many kinds on malformed input
        raise BadInput(f"The PSBT could not be read: {type(exc).__name__}.", field=field) from None
    if maps.version == 2:  # work on it as v0; answered as v2 again (to_base64)
        psbt.locktime = psbt_v2.locktime(maps, field=field)
        psbt.version = None
        psbt.source_version = 2
        fallback = maps.globals.get(bytes([psbt_v2.GLOBAL_FALLBACK_LOCKTIME]))
        psbt.v2_fields = psbt_v2.V2Fields(
            {k: psbt.unknown.pop(k) for k in list(psbt.unknown) if k in psbt_v2.V2_ONLY_GLOBAL_KEYS},
            [
                {k: scope.unknown.pop(k) for k in list(scope.unknown) if k in psbt_v2.V2_ONLY_INPUT_KEYS}
                for scope in psbt.inputs
            ],
            int.from_bytes(fallback, "little") if fallback is not None else None,
            frozenset(n for n, m in enumerate(maps.inputs) if bytes([psbt_v2.IN_SEQUENCE]) not in m),
        )
    return psbt


def serialize(psbt: PSBT) -> bytes:
    """The PSBT's bytes in the version it came in (or was asked for): v0, or BIP-370 v2 (its
    fallback lock time and v2-only fields as they came; a draft's fallback is its lock time)."""
    if getattr(psbt, "source_version", 0) != 2:
        return bytes(psbt.serialize())
    extra = getattr(psbt, "v2_fields", None) or psbt_v2.V2Fields({}, [], psbt.locktime)
    locktime = psbt.locktime
    psbt.unknown = dict(psbt.unknown)  # embit's default unknown dicts are shared between instances
    for scope in psbt.inputs:
        scope.unknown = dict(scope.unknown)
    psbt.version = 2
    psbt.locktime = extra.fallback_locktime
    sequences = [scope.sequence for scope in psbt.inputs]
    for n in extra.no_sequence:
        if n < len(psbt.inputs) and psbt.inputs[n].sequence == 0xFFFFFFFF:
            psbt.inputs[n].sequence = None
    psbt.unknown.update(extra.globals)
    for scope, fields in zip(psbt.inputs, extra.inputs, strict=False):
        scope.unknown.update(fields)
    try:
        return bytes(psbt.serialize())
    finally:
        psbt.version = None
        psbt.locktime = locktime
        for scope, seq in zip(psbt.inputs, sequences, strict=True):
            scope.sequence = seq
        for k in extra.globals:
            psbt.unknown.pop(k, None)
        for scope, fields in zip(psbt.inputs, extra.inputs, strict=False):
            for k in fields:
                scope.unknown.pop(k, None)


def to_base64(psbt: PSBT) -> str:
    return base64.b64encode(serialize(psbt)).decode()


def unsigned_txid(psbt: PSBT) -> str:
    return str(psbt.tx.txid().hex())


TAP_KEY_SIG = b"\x13"  # PSBT_IN_TAP_KEY_SIG: embit 0.8 keeps it among the unknown keys


def taproot_key_sig(scope: InputScope) -> bytes | None:
    sig = scope.unknown.get(TAP_KEY_SIG)
    return bytes(sig) if sig else None


def input_has_signature(scope: InputScope) -> bool:
    return bool(scope.partial_sigs or taproot_key_sig(scope) or scope.final_scriptwitness or scope.final_scriptsig)


def combine(psbts: Sequence[PSBT]) -> SpendPsbt:
    """BIP-174 combiner: the union of every map; all must be of the same unsigned transaction."""
    if not psbts:
        raise BadInput("Give at least one PSBT.", field="psbts")
    first = psbts[0]
    txid = unsigned_txid(first)
    out = SpendPsbt.parse(first.serialize())
    out.source_version = getattr(first, "source_version", 0)
    out.v2_fields = getattr(first, "v2_fields", None)
    for n, other in enumerate(psbts[1:], start=1):
        if unsigned_txid(other) != txid:
            raise BadInput(
                f"PSBT {n + 1} is for another transaction ({unsigned_txid(other)}, not {txid}).",
                field="psbts",
                hint="Combine only PSBTs signed from the same draft.",
            )
        for a, b in zip(out.inputs, other.inputs, strict=True):
            a.update(b)
        for oa, ob in zip(out.outputs, other.outputs, strict=True):
            oa.update(ob)
    return out


# ------------------------------------------------------------------------------ finalizing


def finalize_input(psbt: PSBT, i: int, st: ScriptType, threshold: int) -> bool:
    """Build the final scriptSig/witness of input ``i`` from its signatures; False when some are missing.

    Every signature is verified against the input's sighash first: a tampered or foreign
    signature is refused here rather than by the node."""
    scope = psbt.inputs[i]
    if st is ScriptType.P2TR:
        sig = taproot_key_sig(scope)
        if sig is None and scope.final_scriptwitness is not None and len(scope.final_scriptwitness.items) == 1:
            sig = bytes(scope.final_scriptwitness.items[0])  # signers that finalize key-path inputs themselves
        if not sig or len(sig) not in (64, 65):
            return False
        sighash = sig[64] if len(sig) == 65 else SIGHASH.DEFAULT
        h = psbt.sighash(i, sighash=sighash)
        out_key = ec.PublicKey.from_xonly(scope.witness_utxo.script_pubkey.data[2:])
        if not out_key.schnorr_verify(ec.SchnorrSig.parse(sig[:64]), h):
            raise BadInput(f"Input {i}: the taproot signature does not verify.", field="psbt")
        scope.final_scriptwitness = Witness([sig])
        scope.unknown.pop(TAP_KEY_SIG, None)
        return True
    if scope.final_scriptwitness is not None or scope.final_scriptsig is not None:
        return True  # a signer finalized it itself: the node verifies it on broadcast
    if st.is_multisig:
        ws = scope.witness_script if scope.witness_script is not None else scope.redeem_script
        if ws is None:
            raise BadInput(f"Input {i} has no multisig script.", field="psbt")
        pubs = [bytes(ws.data[1 + 34 * k + 1 : 1 + 34 * (k + 1)]) for k in range((len(ws.data) - 3) // 34)]
        sigs: list[bytes] = []
        for pub in pubs:
            sig = _partial_sig(scope, pub)
            if sig is not None:
                _check_ecdsa(psbt, i, st, pub, sig, ws)
                sigs.append(sig)
            if len(sigs) == threshold:
                break
        if len(sigs) < threshold:
            return False
        if st is ScriptType.P2SH:
            scope.final_scriptsig = Script(push(b"") + b"".join(push(s) for s in sigs) + push(ws.data))
            return True
        scope.final_scriptwitness = Witness([b"", *sigs, ws.data])
        if st is ScriptType.P2SH_P2WSH:
            assert scope.redeem_script is not None
            scope.final_scriptsig = Script(push(scope.redeem_script.data))
        return True
    # single key
    pubs = [p.sec() for p in scope.bip32_derivations] or [p.sec() for p in scope.partial_sigs]
    for pub in pubs:
        sig = _partial_sig(scope, pub)
        if sig is None:
            continue
        _check_ecdsa(psbt, i, st, pub, sig, None)
        if st is ScriptType.P2PKH:
            scope.final_scriptsig = Script(push(sig) + push(pub))
        else:
            scope.final_scriptwitness = Witness([sig, pub])
            if st is ScriptType.P2SH_P2WPKH:
                assert scope.redeem_script is not None
                scope.final_scriptsig = Script(push(scope.redeem_script.data))
        return True
    return False


def _partial_sig(scope: InputScope, pub: bytes) -> bytes | None:
    for k, v in scope.partial_sigs.items():
        if k.sec() == pub:
            return bytes(v)
    return None


def _check_ecdsa(psbt: PSBT, i: int, st: ScriptType, pub: bytes, sig: bytes, ms: Script | None) -> None:
    try:
        sighash = sig[-1]
        if st in (ScriptType.P2PKH, ScriptType.P2SH):
            code = ms if ms is not None else psbt.utxo(i).script_pubkey
            h = psbt.tx.sighash_legacy(i, code, sighash)
        else:
            code = ms if ms is not None else Script(b"\x76\xa9\x14" + scripts.hash160(pub) + b"\x88\xac")
            h = psbt.tx.sighash_segwit(i, code, psbt.utxo(i).value, sighash)
        ok = ec.PublicKey.parse(pub).verify(ec.Signature.parse(sig[:-1]), h)
    except Exception:
        ok = False
    if not ok:
        raise BadInput(f"Input {i}: a signature does not verify (tampered or for another transaction).", field="psbt")


def push(data: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b"\x00"
    if n < 0x4C:
        return bytes([n]) + data
    if n <= 0xFF:
        return b"\x4c" + bytes([n]) + data
    return b"\x4d" + n.to_bytes(2, "little") + data


def extract(psbt: PSBT) -> Transaction:
    """The signed transaction of a fully finalized PSBT."""
    tx = Transaction.parse(psbt.tx.serialize())
    for vin, scope in zip(tx.vin, psbt.inputs, strict=True):
        if scope.final_scriptsig is not None:
            vin.script_sig = scope.final_scriptsig
        if scope.final_scriptwitness is not None:
            vin.witness = scope.final_scriptwitness
    return tx
