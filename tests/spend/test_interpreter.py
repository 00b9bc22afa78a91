"""The script interpreter the dev chain's mempool runs for miniscript and tapscript spends, and the
miniscript satisfier the server finalizes with: witnesses built from embit signatures pass, and
every kind of wrong witness (bad signature, unmet relative lock time, non-minimal IF argument, a
control block for another tree) fails — so a test passing through the dev chain proves validity."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from embit.bip32 import HDKey
from embit.descriptor import Descriptor
from embit.descriptor.taptree import _tweak_helper
from embit.networks import NETWORKS
from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from app.bitcoin.interpreter import ScriptFailure, SpendContext, verify_p2wsh, verify_taproot_script_path
from app.spend import satisfy as S

REG = NETWORKS["regtest"]
ROOTS = [HDKey.from_seed(hashlib.sha256(f"interpreter/{n}".encode()).digest(), version=REG["xprv"]) for n in range(4)]
KEYS = [r.derive("m/84h/1h/0h") for r in ROOTS]


def tpub(n: int) -> str:
    return f"{KEYS[n].to_public().to_base58(version=REG['xpub'])}/0/*"


def spending(spk: bytes, sequence: int = 0xFFFFFFFD) -> Transaction:
    vin = [TransactionInput(b"\x11" * 32, 0, sequence=sequence)]
    return Transaction(version=2, vin=vin, vout=[TransactionOutput(90_000, Script(b"\x00\x14" + b"\x22" * 20))])


def ecdsa_sigs(tx: Transaction, script: bytes, keys: list[int], index: int = 3) -> dict[bytes, bytes]:
    h = tx.sighash_segwit(0, Script(script), 100_000, 1)
    out = {}
    for n in keys:
        k = KEYS[n].derive([0, index]).key
        out[k.get_public_key().sec()] = k.sign(h).serialize() + b"\x01"
    return out


def wsh(policy: str) -> Any:
    return Descriptor.from_string(f"wsh({policy})").derive(3)


def test_miniscript_primary_path_and_timelock_path() -> None:
    d = wsh(f"or_d(pk({tpub(0)}),and_v(v:pkh({tpub(1)}),older(5)))")
    ws, spk = bytes(d.witness_script().data), bytes(d.script_pubkey().data)
    # A alone
    tx = spending(spk)
    sat, _ = S.satisfy(d.miniscript, S.Oracle(ecdsa_sigs(tx, ws, [0]).get), tapscript=False)
    assert sat is not None
    verify_p2wsh([*sat, ws], spk[2:], SpendContext(tx, 0, [spk], [100_000]))
    # B after 5 blocks: nSequence 5 satisfies older(5), 4 does not, the RBF sequence disables it
    for seq, ok in ((5, True), (4, False), (0xFFFFFFFD, False)):
        tx = spending(spk, seq)
        sigs = ecdsa_sigs(tx, ws, [1])
        sat, _ = S.satisfy(d.miniscript, S.Oracle(sigs.get, older=lambda n: True), tapscript=False)
        assert sat is not None
        if ok:
            verify_p2wsh([*sat, ws], spk[2:], SpendContext(tx, 0, [spk], [100_000]))
        else:
            with pytest.raises(ScriptFailure, match="CHECKSEQUENCEVERIFY"):
                verify_p2wsh([*sat, ws], spk[2:], SpendContext(tx, 0, [spk], [100_000]))
    # the satisfier knows the lock is not met at the RBF sequence: no satisfaction from B alone
    assert S.satisfy(d.miniscript, S.Oracle(sigs.get), tapscript=False)[0] is None


def test_wrong_witnesses_fail() -> None:
    d = wsh(f"or_d(pk({tpub(0)}),and_v(v:pkh({tpub(1)}),older(5)))")
    ws, spk = bytes(d.witness_script().data), bytes(d.script_pubkey().data)
    tx = spending(spk)
    ctx = SpendContext(tx, 0, [spk], [100_000])
    sig = next(iter(ecdsa_sigs(tx, ws, [0]).values()))
    tampered = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
    with pytest.raises(ScriptFailure, match="does not verify"):
        verify_p2wsh([tampered, ws], spk[2:], ctx)
    other = next(iter(ecdsa_sigs(spending(spk, 7), ws, [0]).values()))  # signed another transaction
    with pytest.raises(ScriptFailure):
        verify_p2wsh([other, ws], spk[2:], ctx)
    with pytest.raises(ScriptFailure, match="does not match"):
        verify_p2wsh([sig, ws + b"\x51"], spk[2:], ctx)
    # or_i with a non-minimal IF argument
    d2 = wsh(f"or_i(pk({tpub(0)}),pk({tpub(1)}))")
    ws2, spk2 = bytes(d2.witness_script().data), bytes(d2.script_pubkey().data)
    tx2 = spending(spk2)
    sig2 = next(iter(ecdsa_sigs(tx2, ws2, [0]).values()))
    verify_p2wsh([sig2, b"\x01", ws2], spk2[2:], SpendContext(tx2, 0, [spk2], [100_000]))
    with pytest.raises(ScriptFailure, match="MINIMALIF"):
        verify_p2wsh([sig2, b"\x02", ws2], spk2[2:], SpendContext(tx2, 0, [spk2], [100_000]))


def test_tapscript_leaf_and_foreign_control_block() -> None:
    d = Descriptor.from_string(f"tr({tpub(3)},{{pk({tpub(0)}),multi_a(2,{tpub(1)},{tpub(2)})}})").derive(3)
    spk = bytes(d.script_pubkey().data)
    pairs, _root = _tweak_helper(d.taptree)
    internal = d.key.get_public_key().xonly()
    tx = spending(spk)
    leaf, path = pairs[1]  # multi_a(2, B, C)
    script = bytes(leaf.miniscript.compile())
    h = tx.sighash_taproot(0, [Script(spk)], [100_000], 0, ext_flag=1, script=Script(script), leaf_version=0xC0)
    sigs = {}
    for n in (1, 2):
        k = KEYS[n].derive([0, 3]).key
        sigs[k.get_public_key().xonly()] = k.schnorr_sign(h).serialize()
    sat, _ = S.satisfy(leaf.miniscript, S.Oracle(sigs.get), tapscript=True)
    assert sat is not None
    ctx = SpendContext(tx, 0, [spk], [100_000])
    for parity in (0, 1):  # exactly one parity bit is the output key's
        control = bytes([0xC0 | parity]) + internal + path
        try:
            verify_taproot_script_path([*sat, script, control], spk[2:], ctx)
            good = control
        except ScriptFailure as e:
            assert "control block" in str(e)
    verify_taproot_script_path([*sat, script, good], spk[2:], ctx)
    with pytest.raises(ScriptFailure, match="control block"):
        verify_taproot_script_path([*sat, script, good[:33] + b"\x00" * 32], spk[2:], ctx)
    one = dict(list(sigs.items())[:1])
    assert S.satisfy(leaf.miniscript, S.Oracle(one.get), tapscript=True)[0] is None  # 2 of 2 needed


@pytest.mark.parametrize(
    "policy",
    [
        "or_d(pk(@0),and_v(v:pkh(@1),older(5)))",
        "thresh(2,pk(@0),s:pk(@1),s:pk(@2))",
        "andor(pk(@0),pk(@1),pk(@2))",
        "multi(2,@0,@1,@2)",
        "or_i(and_v(v:pk(@0),pk(@1)),pk(@2))",
    ],
)
def test_worst_case_size_bounds_every_satisfaction(policy: str) -> None:
    """Every witness the finalizer may build (any subset of signers) is at most the estimate."""
    d = wsh(policy.replace("@0", tpub(0)).replace("@1", tpub(1)).replace("@2", tpub(2)))
    bound, _ = S.satisfy(d.miniscript, S.worst_case_oracle(False), tapscript=False, maximize=True)
    assert bound is not None
    ws = bytes(d.witness_script().data)
    tx = spending(bytes(d.script_pubkey().data))
    for subset in ([0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]):
        sat, _ = S.satisfy(d.miniscript, S.Oracle(ecdsa_sigs(tx, ws, subset).get), tapscript=False)
        if sat is not None:
            assert S.witness_size(sat) <= S.witness_size(bound)


def test_legacy_p2sh_and_bare_scripts() -> None:
    """Legacy P2SH redeem scripts and bare scripts: the legacy sighash, push-only scriptSigs, the
    redeem script's hash, and a non-minimal IF argument allowed (MINIMALIF is witness-only)."""
    from app.bitcoin.interpreter import verify_bare, verify_p2sh
    from app.spend.templates import legacy_script_sig

    d = Descriptor.from_string(f"sh(or_i(pk({tpub(0)}),pk({tpub(1)})))").derive(3)
    redeem, spk = bytes(d.miniscript.compile()), bytes(d.script_pubkey().data)
    tx = spending(spk)
    ctx = SpendContext(tx, 0, [spk], [100_000])
    k = KEYS[1].derive([0, 3]).key
    sig = k.sign(tx.sighash_legacy(0, Script(redeem), 1)).serialize() + b"\x01"
    sat, _ = S.satisfy(d.miniscript, S.Oracle({k.get_public_key().sec(): sig}.get), tapscript=False)
    assert sat is not None
    verify_p2sh(legacy_script_sig(sat, redeem), spk[2:22], ctx)
    segwit_sig = k.sign(tx.sighash_segwit(0, Script(redeem), 100_000, 1)).serialize() + b"\x01"
    with pytest.raises(ScriptFailure, match="does not verify"):
        verify_p2sh(legacy_script_sig([segwit_sig, b""], redeem), spk[2:22], ctx)
    with pytest.raises(ScriptFailure, match="does not match"):
        verify_p2sh(legacy_script_sig(sat, redeem + b"\x51"), spk[2:22], ctx)
    with pytest.raises(ScriptFailure, match="push-only"):
        verify_p2sh(b"\x76" + legacy_script_sig(sat, redeem), spk[2:22], ctx)
    # bare multi(1, A, B): the scriptPubKey is the script
    bare = Descriptor.from_string(f"sh(multi(1,{tpub(0)},{tpub(1)}))").derive(3)
    script = bytes(bare.miniscript.compile())
    tx2 = spending(script)
    a = KEYS[0].derive([0, 3]).key
    sig_a = a.sign(tx2.sighash_legacy(0, Script(script), 1)).serialize() + b"\x01"
    verify_bare(legacy_script_sig([b"", sig_a], None), script, SpendContext(tx2, 0, [script], [100_000]))
    with pytest.raises(ScriptFailure):
        verify_bare(legacy_script_sig([b"", sig], None), script, SpendContext(tx2, 0, [script], [100_000]))
