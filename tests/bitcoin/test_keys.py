"""Extended key parsing: SLIP-132, origins, networks and the watch-only refusals."""

from __future__ import annotations

import pytest
from embit.bip32 import HDKey

from app.bitcoin.keys import format_path, parse_extended_key, parse_path
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.errors import BadInput

# BIP84 test vector: account 0 private key m/84'/0'/0' (zprv) and its public form.
BIP84_ZPRV = (
    "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1yYNZKEm7z6qUWCroSQnE"
)
BIP84_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
)
# BIP49 test vector: account 0 (testnet) m/49'/1'/0'
BIP49_UPUB = (
    "upub5EFU65HtV5TeiSHmZZm7FUffBGy8UKeqp7vw43jYbvZPpoVsgU93oac7Wk3u6moKegAEWtGNF8DehrnHtv21XXEMYRUocHqguyjknFHYfgY"
)
BIP49_UPRV = (
    "uprv91G7gZkzehuMVxDJTYE6tLivdF8e4rvzSu1LFfKw3b2Qx1Aj8vpoFnHdfUZ3hmi9jsvPifmZ24RTN2KhwB8BfMLTVqaBReibyaFFcTP1s9n"
)
# BIP32 test vector 1, chain m and m/0H (public and private)
TV1_M_XPUB = (
    "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8"
)
TV1_M_XPRV = (
    "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
)
WIF = "L4rK1yDtCWekvXuE6oXD9jCYfFNV2cWRpVuPLBcCU2z8TrisoyY1"  # BIP-380 vector
WIF_UNCOMPRESSED = "5KYZdUEo39z3FPrtuX2QbbwGnNP5zTd7yyr2SC1j299sBCnWjss"


def test_bip84_zpub_is_the_public_form_of_the_vector_zprv() -> None:
    public = HDKey.from_string(BIP84_ZPRV).to_public()
    parsed = parse_extended_key(BIP84_ZPUB, Network.MAINNET).xpub
    assert (public.key.sec(), public.chain_code, public.depth) == (
        parsed.pubkey,
        parsed.chain_code,
        parsed.depth,
    )


def test_slip132_prefixes_map_to_canonical_key_and_script_type() -> None:
    zp = parse_extended_key(BIP84_ZPUB, Network.MAINNET)
    assert zp.prefix == "zpub" and zp.implied_script_type is ScriptType.P2WPKH
    assert zp.xpub.to_base58().startswith("xpub")
    # re-parsing the canonical xpub gives the same key, without an implied script type
    again = parse_extended_key(zp.xpub.to_base58(), Network.MAINNET)
    assert again.xpub == zp.xpub and again.implied_script_type is None

    up = parse_extended_key(BIP49_UPUB, Network.TESTNET)
    assert up.implied_script_type is ScriptType.P2SH_P2WPKH
    assert up.xpub.to_base58().startswith("tpub")
    assert up.xpub.depth == 3


@pytest.mark.parametrize("network", [Network.TESTNET, Network.SIGNET, Network.REGTEST])
def test_tpub_family_is_valid_on_every_test_network(network: Network) -> None:
    assert parse_extended_key(BIP49_UPUB, network).xpub.testnet


def test_key_origin_is_parsed() -> None:
    p = parse_extended_key(f"[73c5da0a/84'/0h/0']{BIP84_ZPUB}", Network.MAINNET)
    assert p.origin is not None
    assert str(p.origin) == "[73c5da0a/84h/0h/0h]"
    assert p.origin.path_str == "m/84h/0h/0h"


def test_capital_h_in_a_key_origin_is_refused_per_bip380() -> None:
    # BIP-380's invalid list: "[deadbeef/0H]..." ('H' is not a hardened marker in descriptors).
    with pytest.raises(BadInput) as e:
        parse_extended_key(f"[73c5da0a/84H/0h/0h]{BIP84_ZPUB}", Network.MAINNET)
    assert e.value.field == "source" and "BIP-380" in str(e.value)
    # a derivationPath field (not a descriptor) still reads H, as hardware wallets print it
    assert parse_path("m/48H/0H/0H/2H") == parse_path("m/48h/0h/0h/2h")


def test_paths() -> None:
    assert parse_path("m/48'/0'/0'/2'") == (0x80000030, 0x80000000, 0x80000000, 0x80000002)
    assert parse_path("m") == ()
    assert format_path(parse_path("84h/0h/0h/0/5")) == "m/84h/0h/0h/0/5"
    for bad in ("m/x", "m/2147483648", "m/1//2", "m/-1"):
        with pytest.raises(BadInput):
            parse_path(bad)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (TV1_M_XPRV, "xprv"),
        (BIP84_ZPRV, "zprv"),
        (BIP49_UPRV, "uprv"),
        (WIF, "WIF"),
        (WIF_UNCOMPRESSED, "WIF"),
        ("abandon " * 11 + "about", "seed phrase"),
    ],
)
def test_private_material_is_refused_as_watch_only(text: str, what: str) -> None:
    with pytest.raises(BadInput) as exc:
        parse_extended_key(text, Network.MAINNET, field="source")
    assert "watch-only" in exc.value.message
    assert what in exc.value.message
    assert exc.value.field == "source"
    assert text not in exc.value.message  # never echo the secret


def test_wrong_network_is_refused() -> None:
    with pytest.raises(BadInput) as exc:
        parse_extended_key(BIP84_ZPUB, Network.TESTNET)
    assert "mainnet key" in exc.value.message and "TESTNET" in exc.value.message
    with pytest.raises(BadInput) as exc:
        parse_extended_key(BIP49_UPUB, Network.MAINNET)
    assert "test-network key" in exc.value.message


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello",
        BIP84_ZPUB[:-1],  # truncated → checksum fails
        BIP84_ZPUB[:-2] + ("a" if BIP84_ZPUB[-2] != "a" else "b") + BIP84_ZPUB[-1],
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",  # an address, not a key
        "[deadbeef/84h]",  # origin without key
        "[zzzzzzzz/84h]" + BIP84_ZPUB,  # non-hex fingerprint
        "[deadbeef/84h" + BIP84_ZPUB,  # unclosed origin
    ],
)
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(BadInput) as exc:
        parse_extended_key(garbage, Network.MAINNET, field="source")
    assert exc.value.field == "source"


def test_repr_hides_key_material() -> None:
    p = parse_extended_key(BIP84_ZPUB, Network.MAINNET)
    assert p.xpub.to_base58() not in repr(p.xpub)
    assert p.xpub.chain_code.hex() not in repr(p.xpub)
