"""Descriptor edge cases a user meets: checksums of every length (against embit's independent
BIP-380 implementation), short or malformed checksums, error messages that quote the user's
input (and never a long one), multisig mistakes, and wallet files with inactive or junk entries."""

from __future__ import annotations

import json

import pytest
from embit.descriptor.checksum import checksum as embit_checksum

from app.bitcoin.descriptors import add_checksum, checksum_valid, descriptor_checksum, parse_wallet_source
from app.bitcoin.networks import Network
from app.errors import BadInput

MAIN = Network.MAINNET
TV_A = "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw"
TV_B = "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH"
ACCOUNT84 = (
    "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
)


def refused(source: str, **kw: object) -> BadInput:
    with pytest.raises(BadInput) as exc:
        parse_wallet_source(source, MAIN, **kw)  # type: ignore[arg-type]
    return exc.value


@pytest.mark.parametrize("extra", ["", "A", "AB", "ABC", "'h", "&~{", "0123456789"])
def test_checksums_of_every_length_match_embit(extra: str) -> None:
    # Lengths of every residue mod 3 (the checksum folds symbol groups by threes), characters
    # from every group of the descriptor character set.
    desc = f"raw(deadbeef){extra}"
    assert descriptor_checksum(desc) == embit_checksum(desc)
    assert checksum_valid(add_checksum(desc))
    real = f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/<0;1>/*){extra}"
    assert descriptor_checksum(real) == embit_checksum(real)


@pytest.mark.parametrize("text", ["", "#", "#1234567", "12345678", "raw(00)#1234567", "raw(00)#123456789"])
def test_a_short_or_misplaced_checksum_is_invalid_not_a_crash(text: str) -> None:
    assert checksum_valid(text) is False


def test_errors_quote_a_short_step_but_never_a_long_one() -> None:
    sixteen, seventeen = "abcdefghijklmnop", "abcdefghijklmnopq"
    assert f"'{sixteen}'" in refused(f"wpkh({TV_A}/{sixteen}/*)").message
    message = refused(f"wpkh({TV_A}/{seventeen}/*)").message
    assert seventeen not in message and "(a long step)" in message


def test_multisig_mistakes_are_named() -> None:
    assert "needs a threshold followed by keys" in refused("wsh(multi(2))").message
    dup = refused(f"wsh(sortedmulti(2,{TV_A}/0/*,{TV_B}/0/*,{TV_A}/0/*))").message
    assert "Key 3 is the same as key 1" in dup


def test_wallet_file_skips_inactive_and_junk_entries() -> None:
    wpkh = [f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/{c}/*)" for c in (0, 1)]
    tr = [f"tr([73c5da0a/86h/0h/0h]{TV_A}/{c}/*)" for c in (0, 1)]
    entries: list[object] = ["junk", {"desc": 5}, {"no": "desc"}]
    entries += [{"desc": add_checksum(d), "active": True, "internal": i == 1} for i, d in enumerate(wpkh)]
    entries += [{"desc": add_checksum(d), "active": False, "internal": i == 1} for i, d in enumerate(tr)]
    got = parse_wallet_source(json.dumps({"descriptors": entries}), MAIN)
    assert got == parse_wallet_source(f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/<0;1>/*)", MAIN)
