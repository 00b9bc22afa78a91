"""createMultisigWallet rules: thresholds, BIP48/BIP45 paths, origins, duplicates, networks."""

from __future__ import annotations

import pytest
from embit import base58
from embit.descriptor import Descriptor

from app.bitcoin.derive import ScriptPubKeyDeriver, derive_xpub
from app.bitcoin.descriptors import Chain, checksum_valid, parse_wallet_source
from app.bitcoin.keys import parse_extended_key
from app.bitcoin.multisig import CosignerSpec, build_multisig, default_multisig_path
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.errors import BadInput

MAIN, TEST = Network.MAINNET, Network.TESTNET
# Depth-4 keys made from the BIP32 vectors' public keys (stand-ins for m/48'/0'/0'/2' keys).
ROOTS = [
    "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
    "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
    "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
]


def depth4(i: int) -> str:
    x = parse_extended_key(ROOTS[i], MAIN).xpub
    while x.depth < 4:
        x = derive_xpub(x, (x.depth + 10 * i,))
    return x.to_base58()


KEYS = [depth4(i) for i in range(3)]
FPS = ["aaaaaaaa", "bbbbbbbb", "cccccccc"]


def specs(n: int = 3, **overrides: object) -> list[CosignerSpec]:
    return [CosignerSpec(KEYS[i], name=f"Key {i}", fingerprint=FPS[i]) for i in range(n)]


def with_version(xpub: str, version_hex: str) -> str:
    raw = base58.decode_check(xpub)
    return base58.encode_check(bytes.fromhex(version_hex) + raw[4:])


def test_default_2_of_3_is_p2wsh_sortedmulti_with_bip48_paths() -> None:
    desc, cosigners = build_multisig(MAIN, 2, specs())
    assert desc.script_type is ScriptType.P2WSH and desc.threshold == 2 and desc.sorted_keys
    assert [c.derivation_path for c in cosigners] == ["m/48h/0h/0h/2h"] * 3
    assert [c.fingerprint for c in cosigners] == FPS
    text = desc.multipath_descriptor
    assert text.startswith("wsh(sortedmulti(2,[aaaaaaaa/48h/0h/0h/2h]") and checksum_valid(text)
    # the emitted descriptor round-trips and derives what embit derives
    assert parse_wallet_source(text, MAIN) == desc
    for chain in Chain:
        ref = Descriptor.from_string(desc.descriptor(chain).partition("#")[0])
        ours = ScriptPubKeyDeriver(desc, chain).script_pubkeys(0, 3)
        assert ours == [ref.derive(i).script_pubkey().data for i in range(3)]


def test_key_order_does_not_change_addresses() -> None:
    a, _ = build_multisig(MAIN, 2, specs())
    b, _ = build_multisig(MAIN, 2, list(reversed(specs())))
    assert ScriptPubKeyDeriver(a, Chain.RECEIVE).script_pubkeys(0, 5) == ScriptPubKeyDeriver(
        b, Chain.RECEIVE
    ).script_pubkeys(0, 5)
    assert a.canonical() == b.canonical()


def test_paths_per_script_type() -> None:
    assert default_multisig_path(ScriptType.P2SH_P2WSH, TEST)[1] == 0x80000001
    d, c = build_multisig(MAIN, 1, specs(2), ScriptType.P2SH_P2WSH)
    assert d.script_type is ScriptType.P2SH_P2WSH and c[0].derivation_path == "m/48h/0h/0h/1h"
    assert d.multipath_descriptor.startswith("sh(wsh(sortedmulti(1,")
    # BIP45 keys are at depth 1
    k45 = derive_xpub(parse_extended_key(ROOTS[0], MAIN).xpub, (45,)).to_base58()
    k45b = derive_xpub(parse_extended_key(ROOTS[1], MAIN).xpub, (45,)).to_base58()
    d, c = build_multisig(
        MAIN,
        2,
        [CosignerSpec(k45, fingerprint="aaaaaaaa"), CosignerSpec(k45b, fingerprint="bbbbbbbb")],
        ScriptType.P2SH,
    )
    assert d.multipath_descriptor.startswith("sh(sortedmulti(2,[aaaaaaaa/45h]")
    assert c[0].derivation_path == "m/45h"


def test_slip132_zpub_upper_implies_p2wsh_and_origin_in_key() -> None:
    zs = [with_version(k, "02aa7ed3") for k in KEYS]  # Zpub
    d, c = build_multisig(MAIN, 2, [CosignerSpec(f"[{FPS[i]}/48h/0h/0h/2h]{zs[i]}") for i in range(3)])
    assert d.script_type is ScriptType.P2WSH
    assert [x.xpub for x in c] == KEYS and c[0].name == "Cosigner 1"
    ys = [with_version(k, "0295b43f") for k in KEYS]  # Ypub
    d, _ = build_multisig(MAIN, 2, [CosignerSpec(y, fingerprint=f) for y, f in zip(ys, FPS, strict=True)])
    assert d.script_type is ScriptType.P2SH_P2WSH


def refused(*args: object, **kw: object) -> BadInput:
    with pytest.raises(BadInput) as exc:
        build_multisig(*args, **kw)  # type: ignore[arg-type]
    return exc.value


def test_threshold_and_count_limits() -> None:
    assert refused(MAIN, 0, specs()).field == "threshold"
    assert refused(MAIN, 4, specs()).field == "threshold"
    assert refused(MAIN, 1, []).field == "cosigners"
    many = [CosignerSpec(KEYS[0], fingerprint="aaaaaaaa")] * 21  # 20 in P2WSH (consensus), 15 in P2SH
    assert refused(MAIN, 2, many).field == "cosigners"
    err = refused(MAIN, 2, many[:16], ScriptType.P2SH)
    assert err.field == "cosigners" and "at most 15 keys in a P2SH multisig" in err.message
    assert refused(MAIN, 2, specs(), ScriptType.P2WPKH).field == "scriptType"


def test_fifteen_cosigners_is_fine() -> None:
    root = parse_extended_key(ROOTS[0], MAIN).xpub
    keys = []
    for i in range(15):
        x = root
        for step in (i, 1, 2, 3):
            x = derive_xpub(x, (step,))
        keys.append(CosignerSpec(x.to_base58(), fingerprint=f"{i:08x}"))
    d, _ = build_multisig(MAIN, 11, keys)
    (spk,) = ScriptPubKeyDeriver(d, Chain.RECEIVE).script_pubkeys(0, 1)
    assert spk[:2] == b"\x00\x20"


def test_duplicate_cosigner_is_refused() -> None:
    s = specs()
    s[2] = CosignerSpec(KEYS[0], fingerprint="cccccccc")
    err = refused(MAIN, 2, s)
    assert err.field == "cosigners.2.xpub" and "same key as cosigner 1" in err.message


def test_mixed_networks_are_refused() -> None:
    s = specs()
    s[1] = CosignerSpec(with_version(KEYS[1], "043587cf"), fingerprint="bbbbbbbb")  # tpub
    err = refused(MAIN, 2, s)
    assert err.field == "cosigners.1.xpub" and "MAINNET" in err.message


def test_missing_or_inconsistent_origins() -> None:
    s = specs()
    s[0] = CosignerSpec(KEYS[0])
    err = refused(MAIN, 2, s)
    assert err.field == "cosigners.0.fingerprint" and "fingerprint" in err.message
    s[0] = CosignerSpec(KEYS[0], fingerprint="xyz")
    assert refused(MAIN, 2, s).field == "cosigners.0.fingerprint"
    s[0] = CosignerSpec(KEYS[0], fingerprint="aaaaaaaa", derivation_path="m/48h/0h/0h")
    err = refused(MAIN, 2, s)
    assert err.field == "cosigners.0.derivationPath" and "depth 4" in err.message
    s[0] = CosignerSpec(f"[aaaaaaaa/48h/0h/0h/2h]{KEYS[0]}", fingerprint="bbbbbbbb")
    assert refused(MAIN, 2, s).field == "cosigners.0.fingerprint"
    # a master key (depth 0) carries its own fingerprint
    _, c = build_multisig(MAIN, 1, [CosignerSpec(ROOTS[0]), CosignerSpec(KEYS[1], fingerprint="bbbbbbbb")])
    assert c[0].derivation_path == "m" and c[0].fingerprint == parse_extended_key(ROOTS[0], MAIN).xpub.fingerprint.hex()


def test_single_sig_prefix_and_type_mismatch_are_refused() -> None:
    s = specs()
    s[0] = CosignerSpec(with_version(KEYS[0], "04b24746"), fingerprint="aaaaaaaa")  # zpub
    assert "single-signature" in refused(MAIN, 2, s).message
    s[0] = CosignerSpec(with_version(KEYS[0], "02aa7ed3"), fingerprint="aaaaaaaa")  # Zpub
    err = refused(MAIN, 2, s, ScriptType.P2SH_P2WSH)
    assert err.field == "cosigners.0.xpub"


def test_private_cosigner_key_is_refused() -> None:
    xprv = (
        "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPP"
        "qjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
    )
    s = specs()
    s[1] = CosignerSpec(xprv, fingerprint="bbbbbbbb")
    err = refused(MAIN, 2, s)
    assert err.field == "cosigners.1.xpub" and "watch-only" in err.message
