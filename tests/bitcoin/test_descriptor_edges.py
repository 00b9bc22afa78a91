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


@pytest.mark.parametrize("extra", ["", "A", "AB", "ABC", "'h", "&~{", "0123456789", "xxIJ", "xxiA"])
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


def test_the_shortest_checksummed_string_is_nine_characters() -> None:
    assert len(add_checksum("")) == 9 and checksum_valid(add_checksum(""))


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
    entries: list[object] = ["junk", {"desc": 5}, {"no": "desc"}, {"desc": "raw(00)", "active": True}]
    entries += [{"desc": add_checksum(d), "active": True, "internal": i == 1} for i, d in enumerate(wpkh)]
    entries += [{"desc": add_checksum(d), "active": False, "internal": i == 1} for i, d in enumerate(tr)]
    got = parse_wallet_source(json.dumps({"descriptors": entries}), MAIN)
    assert got == parse_wallet_source(f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/<0;1>/*)", MAIN)


def test_malformed_descriptors_get_their_own_message() -> None:
    # a closing bracket before its opening one, balanced overall
    assert "Unbalanced parentheses" in refused(f"wpkh({TV_A}/0/*)(x)").message
    assert "Only two-branch multipath" in refused(f"wpkh({TV_A}/0;1/*)").message
    assert "Unsupported descriptor sh(" in refused(f"sh(pkh({TV_A}/0/*))").message
    assert "out of range" in refused(f"wpkh({TV_A}/2147483648/*)").message
    three = "\n".join(f"wpkh({TV_A}/{c}/*)" for c in (0, 1, 2))
    assert "Expected one descriptor, or two" in refused(three).message


def test_a_receive_only_descriptor_changes_to_the_next_branch() -> None:
    from embit.descriptor import Descriptor

    from app.bitcoin.derive import ScriptPubKeyDeriver
    from app.bitcoin.descriptors import Chain

    desc = parse_wallet_source(f"wpkh({TV_A}/0/*)", MAIN)
    change = ScriptPubKeyDeriver(desc, Chain.CHANGE).script_pubkeys(0, 2)
    ref = Descriptor.from_string(f"wpkh({TV_A}/1/*)")
    assert change == [ref.derive(i).script_pubkey().data for i in range(2)]


def test_the_largest_multisig_is_accepted_and_one_more_key_refused() -> None:
    from app.bitcoin.derive import derive_xpub
    from app.bitcoin.keys import parse_extended_key
    from app.bitcoin.scripts import MAX_MULTISIG_KEYS

    base = parse_extended_key(TV_A, MAIN).xpub
    keys = [derive_xpub(base, (i,)).to_base58() for i in range(MAX_MULTISIG_KEYS + 1)]
    ok = parse_wallet_source(f"wsh(sortedmulti(2,{','.join(f'{k}/0/*' for k in keys[:-1])}))", MAIN)
    assert len(ok.keys) == MAX_MULTISIG_KEYS
    assert (
        "at most 20 keys in a P2WSH multisig"
        in refused(f"wsh(sortedmulti(2,{','.join(f'{k}/0/*' for k in keys)}))").message
    )
    p2sh = f"sh(sortedmulti(2,{','.join(f'{k}/0/*' for k in keys[:16])}))"
    assert "at most 15 keys in a P2SH multisig" in refused(p2sh).message


@pytest.mark.parametrize(
    ("purpose", "script_type"),
    [(44, "P2PKH"), (49, "P2SH_P2WPKH"), (84, "P2WPKH"), (86, "P2TR")],
)
def test_the_key_origin_purpose_decides_the_script_type_of_an_xpub(purpose: int, script_type: str) -> None:
    got = parse_wallet_source(f"[73c5da0a/{purpose}h/0h/0h]{ACCOUNT84}", MAIN)
    assert got.script_type.name == script_type


def test_a_wallet_file_entry_without_internal_is_the_receive_branch() -> None:
    entries = [{"desc": add_checksum(f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/0/*)"), "active": True}]
    got = parse_wallet_source(json.dumps({"descriptors": entries}), MAIN)
    assert got == parse_wallet_source(f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/0/*)", MAIN)


def test_parsed_descriptors_are_immutable_values() -> None:
    import dataclasses

    desc = parse_wallet_source(f"wpkh({TV_A}/<0;1>/*)", MAIN)
    key = desc.keys[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.steps = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        desc.threshold = 2  # type: ignore[misc]
    assert {key: 1}[parse_wallet_source(f"wpkh({TV_A}/<0;1>/*)", MAIN).keys[0]] == 1
