"""Transaction sizes and dust limits per script type, for fees before anything is signed.

Weights assume worst-case signatures as Bitcoin Core estimates them (72-byte DER ECDSA plus the
sighash byte; 64-byte BIP340 Schnorr with the default sighash), so a signed transaction is never
larger than estimated and its fee rate never below the one asked for.
"""

from __future__ import annotations

from app.bitcoin.scripts import ScriptType

ECDSA_SIG = 73  # push length byte excluded: 72-byte DER + sighash flag
SCHNORR_SIG = 64
PUBKEY = 33
TX_OVERHEAD_WU = 4 * (4 + 4 + 1 + 1)  # version, locktime, input and output counts (< 253 each)
SEGWIT_MARKER_WU = 2
DUST_RELAY_FEE = 3  # sat/vB, Bitcoin Core's -dustrelayfee


def _varint_len(n: int) -> int:
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5


def _multisig_script_len(n: int) -> int:
    return 1 + n * (1 + PUBKEY) + 1 + 1  # OP_m <push pubkey>* OP_n OP_CHECKMULTISIG


def input_weight(script_type: ScriptType, threshold: int = 1, keys: int = 1) -> int:
    """Weight units of one signed input of this script type (outpoint, sequence, scripts, witness)."""
    base = 36 + 4  # outpoint + sequence
    st = script_type
    if st is ScriptType.P2PKH:
        script_sig = (1 + ECDSA_SIG) + (1 + PUBKEY)
        return 4 * (base + _varint_len(script_sig) + script_sig)
    if st is ScriptType.P2WPKH:
        witness = 1 + (1 + ECDSA_SIG) + (1 + PUBKEY)
        return 4 * (base + 1) + witness
    if st is ScriptType.P2SH_P2WPKH:
        witness = 1 + (1 + ECDSA_SIG) + (1 + PUBKEY)
        return 4 * (base + 1 + 23) + witness
    if st is ScriptType.P2TR:
        witness = 1 + 1 + SCHNORR_SIG
        return 4 * (base + 1) + witness
    ms = _multisig_script_len(keys)
    if st is ScriptType.P2SH:
        push_script = (1 if ms < 76 else 2 if ms < 256 else 3) + ms
        script_sig = 1 + threshold * (1 + ECDSA_SIG) + push_script
        return 4 * (base + _varint_len(script_sig) + script_sig)
    witness = _varint_len(threshold + 2) + 1 + threshold * (1 + ECDSA_SIG) + _varint_len(ms) + ms
    if st is ScriptType.P2WSH:
        return 4 * (base + 1) + witness
    if st is ScriptType.P2SH_P2WSH:
        return 4 * (base + 1 + 35) + witness
    raise ValueError(f"unsupported script type {st}")


def input_vbytes(script_type: ScriptType, threshold: int = 1, keys: int = 1) -> float:
    return input_weight(script_type, threshold, keys) / 4


def is_segwit(script_type: ScriptType) -> bool:
    return script_type not in (ScriptType.P2PKH, ScriptType.P2SH)


def output_weight(script_pubkey_len: int) -> int:
    return 4 * (8 + _varint_len(script_pubkey_len) + script_pubkey_len)


def tx_weight(input_weights: list[int], output_spk_lens: list[int], segwit: bool) -> int:
    """The weight of a whole transaction from its inputs' weights and outputs' script lengths."""
    w = TX_OVERHEAD_WU + sum(input_weights) + sum(output_weight(n) for n in output_spk_lens)
    w += 4 * (_varint_len(len(input_weights)) - 1 + _varint_len(len(output_spk_lens)) - 1)
    if segwit:
        w += SEGWIT_MARKER_WU  # the witness item counts are in input_weight
    return w


def vbytes(weight: int) -> int:
    return (weight + 3) // 4


def dust_threshold(script_pubkey: bytes) -> int:
    """Bitcoin Core's GetDustThreshold at the default dust relay fee (3 sat/vB): the value below
    which an output to this script costs more to spend than it is worth (546 for P2PKH, 540 P2SH,
    294 P2WPKH, 330 P2WSH and P2TR)."""
    out_size = 8 + _varint_len(len(script_pubkey)) + len(script_pubkey)
    witness_program = (
        len(script_pubkey) >= 4
        and script_pubkey[0] in (0, *range(0x51, 0x61))
        and (script_pubkey[1] + 2 == len(script_pubkey))
    )
    spend = 32 + 4 + 1 + (107 // 4) + 4 if witness_program else 32 + 4 + 1 + 107 + 4
    return (out_size + spend) * DUST_RELAY_FEE
