"""Descriptor parsing, checksums (BIP-380) and the canonical forms we emit."""

from __future__ import annotations

import pytest
from embit.descriptor import Descriptor
from embit.descriptor import checksum as embit_checksum

from app.bitcoin.derive import ScriptPubKeyDeriver
from app.bitcoin.descriptors import (
    Chain,
    add_checksum,
    checksum_valid,
    descriptor_checksum,
    parse_descriptors,
    parse_wallet_source,
)
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.errors import BadInput

MAIN, TEST = Network.MAINNET, Network.TESTNET
ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
ACCOUNT84 = (
    "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
)
TV_A = "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw"
TV_B = "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH"
TV_C = "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ"
TPUB = "tpubDC8msFGeGuwnKG9Upg7DM2b4DaRqg3CUZa5g8v2SRQ6K4NSkxUgd7HsL2XVWbVm39yBA4LAxysQAm397zwQSQoQgewGiYZqrA9DsP4zbQ1M"
XPRV = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
WIF = "L4rK1yDtCWekvXuE6oXD9jCYfFNV2cWRpVuPLBcCU2z8TrisoyY1"


# --------------------------------------------------------------------------- BIP-380 checksum


def test_bip380_checksum_vectors() -> None:
    assert checksum_valid("raw(deadbeef)#89f8spxm")
    assert descriptor_checksum("raw(deadbeef)") == "89f8spxm"
    for bad in (
        "raw(deadbeef)#",
        "raw(deadbeef)#89f8spxmx",
        "raw(deadbeef)#89f8spx",
        "raw(deedbeef)#89f8spxm",
        "raw(deedbeef)##9f8spxm",
        "raw(Ü)#00000000",
    ):
        assert not checksum_valid(bad), bad


def test_checksums_agree_with_embit() -> None:
    d = parse_wallet_source(ZPUB, MAIN)
    for text in (d.receive_descriptor, d.change_descriptor):
        body, _, checksum = text.partition("#")
        assert embit_checksum.checksum(body) == checksum


# --------------------------------------------------------------------------- accepted forms


@pytest.mark.parametrize(
    ("source", "script_type"),
    [
        (f"pkh([d34db33f/44h/0h/0h]{ACCOUNT84}/<0;1>/*)", ScriptType.P2PKH),
        (f"sh(wpkh({ACCOUNT84}/0/*))", ScriptType.P2SH_P2WPKH),
        (f"wpkh([d34db33f/84'/0'/0']{ACCOUNT84}/<0;1>/*)", ScriptType.P2WPKH),
        (f"tr({ACCOUNT84}/<0;1>/*)", ScriptType.P2TR),
        (f"sh(sortedmulti(2,{TV_A}/<0;1>/*,{TV_B}/<0;1>/*))", ScriptType.P2SH),
        (f"wsh(sortedmulti(2,{TV_A}/<0;1>/*,{TV_B}/<0;1>/*,{TV_C}/<0;1>/*))", ScriptType.P2WSH),
        (f"sh(wsh(multi(1,{TV_A}/0/*,{TV_B}/0/*)))", ScriptType.P2SH_P2WSH),
    ],
)
def test_descriptor_forms_derive_like_embit(source: str, script_type: ScriptType) -> None:
    d = parse_wallet_source(add_checksum(source), MAIN)
    assert d.script_type is script_type
    for chain in Chain:
        text = d.descriptor(chain)
        assert checksum_valid(text)
        ours = ScriptPubKeyDeriver(d, chain).script_pubkeys(0, 3)
        ref = Descriptor.from_string(text.partition("#")[0])
        assert ours == [ref.derive(i).script_pubkey().data for i in range(3)]
    # the <0;1> form we emit parses back to the same wallet
    again = parse_wallet_source(d.multipath_descriptor, MAIN)
    assert again == d
    assert checksum_valid(d.multipath_descriptor)


def test_receive_change_pair_equals_multipath() -> None:
    pair = f"wpkh({ACCOUNT84}/0/*)\nwpkh({ACCOUNT84}/1/*)"
    multipath = f"wpkh({ACCOUNT84}/<0;1>/*)"
    assert parse_descriptors(pair, MAIN) == parse_descriptors(multipath, MAIN)
    # and a zpub alone means the same wallet
    assert parse_wallet_source(ZPUB, MAIN) == parse_descriptors(multipath, MAIN)


def test_non_standard_branches_and_extra_steps() -> None:
    d = parse_descriptors(f"wpkh({ACCOUNT84}/7/<2;3>/*)", MAIN)
    assert d.keys[0].steps == (7,) and d.keys[0].chains == (2, 3)
    assert d.receive_descriptor.startswith(f"wpkh({ACCOUNT84}/7/2/*)#")


def test_origin_and_checksum_are_emitted() -> None:
    d = parse_wallet_source(f"[73c5da0a/84'/0'/0']{ZPUB}", MAIN)
    assert d.multipath_descriptor.startswith(f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/<0;1>/*)#")


def test_sortedmulti_canonical_form_ignores_key_order_and_origins() -> None:
    a = parse_descriptors(f"wsh(sortedmulti(2,[00000001]{TV_A}/<0;1>/*,{TV_B}/<0;1>/*))", MAIN)
    b = parse_descriptors(f"wsh(sortedmulti(2,{TV_B}/<0;1>/*,{TV_A}/<0;1>/*))", MAIN)
    assert a.canonical() == b.canonical()
    m1 = parse_descriptors(f"wsh(multi(2,{TV_A}/<0;1>/*,{TV_B}/<0;1>/*))", MAIN)
    m2 = parse_descriptors(f"wsh(multi(2,{TV_B}/<0;1>/*,{TV_A}/<0;1>/*))", MAIN)
    assert m1.canonical() != m2.canonical()


def test_testnet_descriptor() -> None:
    d = parse_wallet_source(f"wpkh({TPUB}/<0;1>/*)", TEST)
    assert d.network is TEST
    with pytest.raises(BadInput, match="test-network key"):
        parse_wallet_source(f"wpkh({TPUB}/<0;1>/*)", MAIN)


# --------------------------------------------------------------------------- refusals


def refused(source: str, network: Network = MAIN, **kw: object) -> BadInput:
    with pytest.raises(BadInput) as exc:
        parse_wallet_source(source, network, **kw)  # type: ignore[arg-type]
    return exc.value


def test_bad_checksum_names_source() -> None:
    good = add_checksum(f"wpkh({ACCOUNT84}/<0;1>/*)")
    bad = good[:-1] + ("q" if good[-1] != "q" else "p")
    err = refused(bad)
    assert err.field == "source" and "checksum" in err.message


@pytest.mark.parametrize(
    "source",
    [
        f"wpkh({ACCOUNT84}/0h/*)",
        f"wpkh({ACCOUNT84}/0'/*)",
        f"wpkh({ACCOUNT84}/<0h;1h>/*)",
        f"wpkh({ACCOUNT84}/0/*h)",
        f"wsh(sortedmulti(1,{TV_A}/0/*,{TV_B}/1h/0/*))",
    ],
)
def test_hardened_after_xpub_is_refused(source: str) -> None:
    err = refused(source)
    assert "ardened" in err.message and err.field == "source"


@pytest.mark.parametrize(
    "source",
    [f"wpkh({XPRV}/<0;1>/*)", f"wpkh({WIF})", f"wsh(sortedmulti(1,{TV_A}/0/*,{XPRV}/0/*))", XPRV, WIF],
)
def test_private_keys_are_refused(source: str) -> None:
    err = refused(source)
    assert "watch-only" in err.message
    assert XPRV not in err.message and WIF not in err.message


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (f"wpkh({ACCOUNT84})", "not ranged"),
        (f"wpkh({ACCOUNT84}/*)", "branch"),
        (f"wpkh({ACCOUNT84}/1/*)", "receive branch"),
        (f"wpkh({ACCOUNT84}/<0;1;2>/*)", "two-branch"),
        (f"wpkh({ACCOUNT84}/<0;0>/*)", "must differ"),
        (f"wpkh({ACCOUNT84}/0/*)\nwpkh({ACCOUNT84}/0/*)", "same branch"),
        (f"wpkh({ACCOUNT84}/0/*)\npkh({ACCOUNT84}/1/*)", "same wallet"),
        (f"tr({ACCOUNT84}/<0;1>/*,pk({TV_A}/0/*))", "script paths"),
        (f"combo({ACCOUNT84}/<0;1>/*)", "Unsupported"),
        (f"multi(1,{TV_A}/0/*)", "Bare multisig"),
        (f"wsh(sortedmulti(3,{TV_A}/0/*,{TV_B}/0/*))", "threshold"),
        (f"wsh(sortedmulti(0,{TV_A}/0/*,{TV_B}/0/*))", "threshold"),
        (f"wsh(sortedmulti(1,{TV_A}/0/*,{TV_A}/0/*))", "same as key"),
        ("wpkh(0260b2003c386519fc9eadf2b5cf124dd8eea4c4e68d5e154050a9346ea98ce600)", "Single public"),
        (f"wpkh({ACCOUNT84}/<0;1>/*", "parse"),
        ("wpkh(garbage/<0;1>/*)", "Not a valid"),
        ("   ", "empty"),
        (f"{ACCOUNT84}/0/*", "inside a descriptor"),
    ],
)
def test_malformed_descriptors(source: str, needle: str) -> None:
    err = refused(source)
    assert needle in err.message, err.message
    assert err.field == "source"


def test_script_type_rules_for_bare_keys() -> None:
    err = refused(ACCOUNT84)
    assert err.field == "scriptType"
    assert parse_wallet_source(ACCOUNT84, MAIN, ScriptType.P2TR).script_type is ScriptType.P2TR
    err = refused(ZPUB, script_type=ScriptType.P2PKH)
    assert err.field == "scriptType" and "zpub" in err.message
    err = refused(ACCOUNT84, script_type=ScriptType.P2WSH)
    assert err.field == "scriptType" and "multisig" in err.message
    err = refused(f"wpkh({ACCOUNT84}/<0;1>/*)", script_type=ScriptType.P2TR)
    assert err.field == "scriptType"


def test_slip132_multisig_key_alone_is_refused() -> None:
    from embit import base58

    raw = base58.decode_check(ACCOUNT84)
    zpub_multi = base58.encode_check(bytes.fromhex("02aa7ed3") + raw[4:])  # Zpub
    err = refused(zpub_multi)
    assert "Zpub" in err.message and "multisig" in err.message


@pytest.mark.parametrize(
    "source",
    [
        f"wpkh({XPRV}/<0;1>/*",  # malformed around a private key
        f"wpkh({ACCOUNT84}/{XPRV}/*)",
        f"wsh(sortedmulti(2,{XPRV}/0/*,{TV_A}/0/*)",
        f"WPKH({XPRV})",
    ],
)
def test_errors_never_echo_private_keys(source: str) -> None:
    err = refused(source)
    assert XPRV[:12] not in err.message and XPRV[:12] not in (err.hint or "")


def test_wallet_files() -> None:
    import json

    multipath = f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/<0;1>/*)"
    expected = parse_wallet_source(multipath, MAIN)
    specter = json.dumps({"label": "Hot", "blockheight": 0, "descriptor": add_checksum(multipath)})
    assert parse_wallet_source(specter, MAIN) == expected

    def core(*entries: tuple[str, bool]) -> str:
        return json.dumps(
            {
                "wallet_name": "w",
                "descriptors": [
                    {"desc": add_checksum(d), "timestamp": 1, "active": True, "internal": internal, "range": [0, 999]}
                    for d, internal in entries
                ],
            }
        )

    wpkh = [(f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/{c}/*)", c == 1) for c in (0, 1)]
    tr = [(f"tr([73c5da0a/86h/0h/0h]{TV_A}/{c}/*)", c == 1) for c in (0, 1)]
    assert parse_wallet_source(core(*wpkh), MAIN) == expected
    # a bare list, change first: still the receive/change pair
    assert (
        parse_wallet_source(json.dumps([json.loads(core(*wpkh))["descriptors"][i] for i in (1, 0)]), MAIN) == expected
    )
    both = core(*wpkh, *tr)
    err = refused(both)
    assert err.field == "scriptType" and "P2TR, P2WPKH" in err.message
    assert parse_wallet_source(both, MAIN, ScriptType.P2WPKH) == expected
    assert parse_wallet_source(both, MAIN, ScriptType.P2TR).script_type is ScriptType.P2TR
    assert refused(both, script_type=ScriptType.P2PKH).field == "scriptType"
    assert "not valid JSON" in refused('{"descriptor": ').message
    assert "No descriptor" in refused('{"xpub": "x"}').message
    assert "No active" in refused('{"descriptors": [{"desc": "raw(00)", "active": true}]}').message
    assert "receive" in refused(core(wpkh[1])).message
    # a private descriptor inside a wallet file is still refused
    xprv_desc = core((f"wpkh({XPRV}/0/*)", False))
    assert "watch-only" in refused(xprv_desc).message
