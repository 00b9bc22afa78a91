"""The macaroon decoder against the v2 binary layout LND writes, and capability derivation."""

from __future__ import annotations

import pytest

from app.errors import BadInput
from app.lightning import macaroon as mac
from app.lightning.permissions import ADMIN_OPS, INVOICE_OPS, READONLY_OPS, capabilities_from
from app.lightning.validation import validate_macaroon

ROOT = bytes(range(32))


def test_layout_matches_lnd_admin_macaroon_prefix() -> None:
    # LND's admin.macaroon starts 02 01 03 "lnd" 02 f801 03 0a10...: version 2, location "lnd",
    # a 248-byte identifier (bakery v3 byte + MacaroonId protobuf, nonce first).
    m = mac.mint(ROOT, ADMIN_OPS, nonce=b"\x01" * 16)
    assert m.hex().startswith("0201036c6e6402f801030a10")
    # no caveats: EOS, EOS, then the 32-byte signature field
    assert m.serialize()[-35:-32] == b"\x00\x06\x20"


def test_roundtrip_and_signature_chain() -> None:
    m = mac.mint(ROOT, READONLY_OPS, nonce=b"n" * 16)
    d = mac.decode(m.serialize())
    assert d == m
    assert d.location == "lnd"
    assert d.id.storage_id == b"0"
    assert d.permissions == frozenset(f"{e}:read" for e in READONLY_OPS)
    assert mac.verify_signature(d, ROOT)
    assert not mac.verify_signature(d, bytes(32))
    att = mac.add_first_party_caveat(d, "time-before 2099-01-01T00:00:00Z")
    assert mac.verify_signature(mac.decode(att.serialize()), ROOT)
    assert mac.decode(att.serialize()).caveats[0].condition == "time-before 2099-01-01T00:00:00Z"


def test_tampered_signature_fails() -> None:
    raw = bytearray(mac.mint(ROOT, ADMIN_OPS, nonce=b"n" * 16).serialize())
    raw[-1] ^= 1
    assert not mac.verify_signature(mac.decode(bytes(raw)), ROOT)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "empty"),
        (b"\x01abc", "version"),
        (b"\x02\x02\x05abc", "truncated"),
    ],
)
def test_malformed(raw: bytes, why: str) -> None:
    with pytest.raises(mac.MacaroonError):
        mac.decode(raw)


def test_capabilities() -> None:
    ro = capabilities_from(mac.mint(ROOT, READONLY_OPS, nonce=b"1" * 16).permissions)
    assert ro.read_only
    assert ro.as_list() == ["READ_INVOICES", "READ_NODE"]
    assert ro.missing("OPEN_CHANNELS") == ("onchain:write", "offchain:write")
    admin = capabilities_from(mac.mint(ROOT, ADMIN_OPS, nonce=b"2" * 16).permissions)
    assert not admin.read_only
    assert {"OPEN_CHANNELS", "CLOSE_CHANNELS", "PAY", "CREATE_INVOICES", "CONNECT_PEERS"} <= admin.granted
    inv = capabilities_from(mac.mint(ROOT, INVOICE_OPS, nonce=b"3" * 16).permissions)
    assert inv.allows("CREATE_INVOICES") and not inv.allows("PAY") and not inv.read_only
    uri = capabilities_from({"uri:/lnrpc.Lightning/AddInvoice"})
    assert uri.allows("CREATE_INVOICES")


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("", "Give the macaroon"),
        ("zz" * 10, "hexadecimal"),
        ("abc", "hexadecimal"),
        ("0201", "not an LND macaroon"),
        ("00" * 40, "not an LND macaroon"),
    ],
)
def test_validate_macaroon_bad(text: str, msg: str) -> None:
    with pytest.raises(BadInput) as err:
        validate_macaroon(text)
    assert err.value.field == "macaroon"
    assert msg in err.value.message


def test_validate_macaroon_accepts_uppercase_and_whitespace() -> None:
    hx = mac.mint(ROOT, READONLY_OPS, nonce=b"n" * 16).hex().upper()
    assert validate_macaroon(hx[:20] + "\n" + hx[20:]).permissions
