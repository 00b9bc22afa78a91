"""BOLT 11 payment requests for devlnd: encoded and signed with the node key, and decoded.

The signature is secp256k1 recoverable ECDSA (embit's libsecp256k1 binding) over
``sha256(hrp || data)``, so any BOLT 11 decoder (``lncli decodepayreq``, a frontend's
``bolt11`` library) accepts devlnd's invoices and recovers the payee from the signature.
:func:`decode` follows LND's ``zpay32.Decode`` rules: bech32 checksum, known network prefix,
amount multiplier, signature recovery (or the ``n`` field's key checked against it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from embit import bech32
from embit.util import secp256k1

HRP = {"mainnet": "lnbc", "testnet": "lntb", "signet": "lntbs", "regtest": "lnbcrt"}
_NETWORK_OF_PREFIX = {"bc": "mainnet", "tb": "testnet", "tbs": "signet", "bcrt": "regtest"}
_MULT = {"m": 10**9, "u": 10**6, "n": 10**3, "p": 1}  # pico-BTC per unit
DEFAULT_EXPIRY = 3600
DEFAULT_MIN_FINAL_CLTV = 18
FEATURE_VAR_ONION = 9  # var_onion_optin (optional bit)
FEATURE_PAYMENT_SECRET = 15  # payment_secret (optional bit)


class InvoiceError(ValueError):
    """The string is not a valid payment request (message as LND words it where it has one)."""


@dataclass(frozen=True, slots=True)
class HopHint:
    node_id: str
    chan_id: int
    fee_base_msat: int
    fee_proportional_millionths: int
    cltv_expiry_delta: int


@dataclass(frozen=True, slots=True)
class Invoice:
    network: str
    amount_msat: int
    timestamp: int
    payment_hash: bytes
    payee: str
    description: str = ""
    description_hash: bytes = b""
    expiry: int = DEFAULT_EXPIRY
    min_final_cltv_expiry: int = DEFAULT_MIN_FINAL_CLTV
    payment_secret: bytes = b""
    fallback_address: str = ""
    route_hints: tuple[tuple[HopHint, ...], ...] = ()
    features: frozenset[int] = field(default_factory=frozenset)


def _amount(msat: int) -> str:
    if msat == 0:
        return ""
    pico = msat * 10  # 1 msat = 10 pico-BTC
    for unit, div in (("m", 10**9), ("u", 10**6), ("n", 10**3)):
        if pico % div == 0:
            return f"{pico // div}{unit}"
    return f"{pico}p"


def _int5(value: int, length: int | None = None) -> list[int]:
    out = []
    while value:
        out.append(value & 31)
        value >>= 5
    out.reverse()
    if length is not None:
        out = [0] * (length - len(out)) + out
    return out or [0]


def _tag(code: str, data5: list[int]) -> list[int]:
    return [bech32.CHARSET.index(code), *_int5(len(data5), 2), *data5]


def _bytes5(b: bytes) -> list[int]:
    return list(bech32.convertbits(b, 8, 5, True) or [])


def _from5(data: list[int]) -> bytes:
    """5-bit groups to bytes, dropping the zero padding of the last group (as BOLT 11 says)."""
    acc, bits, out = 0, 0, bytearray()
    for v in data:
        acc = (acc << 5) | v
        bits += 5
        while bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return bytes(out)


def _uint(data: list[int]) -> int:
    n = 0
    for v in data:
        n = (n << 5) | v
    return n


def _sighash(hrp: str, data5: list[int]) -> bytes:
    return hashlib.sha256(hrp.encode() + _from5_padded(data5)).digest()


def _from5_padded(data: list[int]) -> bytes:
    return bytes(bech32.convertbits(data, 5, 8, True) or [])


def _features5(bits: frozenset[int]) -> list[int]:
    n = 0
    for b in bits:
        n |= 1 << b
    return _int5(n)


def encode(
    network: str,
    amount_msat: int,
    timestamp: int,
    payment_hash: bytes,
    memo: str,
    expiry: int,
    payment_secret: bytes,
    *,
    node_secret: bytes,
    min_final_cltv_expiry: int = 80,
    route_hints: tuple[tuple[HopHint, ...], ...] = (),
) -> str:
    """A signed payment request (the payee is the public key of ``node_secret``)."""
    hrp = HRP.get(network, "lnbcrt") + _amount(amount_msat)
    data = _int5(timestamp, 7)
    data += _tag("p", _bytes5(payment_hash))
    data += _tag("s", _bytes5(payment_secret))
    data += _tag("d", _bytes5(memo.encode()))
    data += _tag("x", _int5(expiry))
    data += _tag("c", _int5(min_final_cltv_expiry))
    for route in route_hints:
        raw = b"".join(
            bytes.fromhex(h.node_id)
            + h.chan_id.to_bytes(8, "big")
            + h.fee_base_msat.to_bytes(4, "big")
            + h.fee_proportional_millionths.to_bytes(4, "big")
            + h.cltv_expiry_delta.to_bytes(2, "big")
            for h in route
        )
        data += _tag("r", _bytes5(raw))
    data += _tag("9", _features5(frozenset({FEATURE_VAR_ONION, FEATURE_PAYMENT_SECRET})))
    sig = secp256k1.ecdsa_sign_recoverable(_sighash(hrp, data), node_secret)
    compact, recid = secp256k1.ecdsa_recoverable_signature_serialize_compact(sig)
    data += _bytes5(compact + bytes([recid]))
    return str(bech32.bech32_encode(bech32.Encoding.BECH32, hrp, data))


def _parse_hrp(hrp: str) -> tuple[str, int]:
    if not hrp.startswith("ln"):
        raise InvoiceError('prefix should be "ln"')
    rest = hrp[2:]
    for prefix in sorted(_NETWORK_OF_PREFIX, key=len, reverse=True):
        if rest.startswith(prefix):
            amount = rest[len(prefix) :]
            network = _NETWORK_OF_PREFIX[prefix]
            break
    else:
        raise InvoiceError(f"unknown network prefix in {hrp!r}")
    if not amount:
        return network, 0
    unit = amount[-1]
    if unit in _MULT:
        digits, mult = amount[:-1], _MULT[unit]
    else:
        digits, mult = amount, 10**12
    if not digits.isdigit() or (digits.startswith("0") and digits != "0"):
        raise InvoiceError(f"invalid amount {amount!r}")
    pico = int(digits) * mult
    if pico % 10:
        raise InvoiceError("amount in pico-BTC must be a multiple of 10 (a whole msat)")
    return network, pico // 10


def decode(text: str) -> Invoice:
    """Parse and verify a payment request (any network; the caller checks the one it expects)."""
    s = (text or "").strip()
    if s.lower().startswith("lightning:"):
        s = s[10:]
    if s != s.lower() and s != s.upper():
        raise InvoiceError("mixed case payment request")
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s) or any(c not in bech32.CHARSET for c in s[pos + 1 :]):
        raise InvoiceError("invalid index of 1")
    hrp = s[:pos]
    data = [bech32.CHARSET.index(c) for c in s[pos + 1 :]]
    if bech32.bech32_verify_checksum(hrp, data) != bech32.Encoding.BECH32:
        raise InvoiceError("checksum failed")
    data = data[:-6]
    if len(data) < 7 + 104:
        raise InvoiceError("data too short")
    network, amount_msat = _parse_hrp(hrp)
    body, sig5 = data[:-104], data[-104:]
    sig = _from5(sig5)
    if len(sig) != 65 or sig[64] > 3:
        raise InvoiceError("invalid signature")
    timestamp = _uint(body[:7])
    fields: dict[str, object] = {}
    hints: list[tuple[HopHint, ...]] = []
    features: set[int] = set()
    payee_n = ""
    i = 7
    while i < len(body):
        if i + 3 > len(body):
            raise InvoiceError("tagged field too short")
        code = bech32.CHARSET[body[i]]
        length = _uint(body[i + 1 : i + 3])
        value = body[i + 3 : i + 3 + length]
        if len(value) != length:
            raise InvoiceError("tagged field too short")
        i += 3 + length
        if code == "p" and length == 52 and "p" not in fields:
            fields["p"] = _from5(value)
        elif code == "s" and length == 52 and "s" not in fields:
            fields["s"] = _from5(value)
        elif code == "h" and length == 52 and "h" not in fields:
            fields["h"] = _from5(value)
        elif code == "n" and length == 53:
            payee_n = _from5(value).hex()
        elif code == "d" and "d" not in fields:
            try:
                fields["d"] = _from5(value).decode()
            except UnicodeDecodeError:
                raise InvoiceError("description is not valid UTF-8") from None
        elif code == "x" and "x" not in fields:
            fields["x"] = _uint(value)
        elif code == "c" and "c" not in fields:
            fields["c"] = _uint(value)
        elif code == "f" and "f" not in fields and value:
            fields["f"] = f"v{value[0]}:" + _from5(value[1:]).hex()
        elif code == "r":
            raw = _from5(value)
            if not raw or len(raw) % 51:
                raise InvoiceError("invalid route hint length")
            hints.append(
                tuple(
                    HopHint(
                        node_id=raw[o : o + 33].hex(),
                        chan_id=int.from_bytes(raw[o + 33 : o + 41], "big"),
                        fee_base_msat=int.from_bytes(raw[o + 41 : o + 45], "big"),
                        fee_proportional_millionths=int.from_bytes(raw[o + 45 : o + 49], "big"),
                        cltv_expiry_delta=int.from_bytes(raw[o + 49 : o + 51], "big"),
                    )
                    for o in range(0, len(raw), 51)
                )
            )
        elif code == "9":
            bits = _uint(value)
            features |= {b for b in range(bits.bit_length()) if bits >> b & 1}
        # unknown tags (and known ones of the wrong length) are skipped, as BOLT 11 requires
    if "p" not in fields:
        raise InvoiceError("invoice must contain a payment hash")
    if "d" not in fields and "h" not in fields:
        raise InvoiceError("invoice must contain one of description or description hash")
    msg = _sighash(hrp, body)
    try:
        rec = secp256k1.ecdsa_recoverable_signature_parse_compact(sig[:64], sig[64])
        pub = secp256k1.ec_pubkey_serialize(secp256k1.ecdsa_recover(rec, msg))
    except ValueError:
        raise InvoiceError("invalid signature") from None
    if payee_n and payee_n != pub.hex():
        raise InvoiceError("invalid invoice signature")
    return Invoice(
        network=network,
        amount_msat=amount_msat,
        timestamp=timestamp,
        payment_hash=fields["p"],  # type: ignore[arg-type]
        payee=pub.hex(),
        description=str(fields.get("d", "")),
        description_hash=fields.get("h", b""),  # type: ignore[arg-type]
        expiry=int(fields.get("x", DEFAULT_EXPIRY)),  # type: ignore[call-overload]
        min_final_cltv_expiry=int(fields.get("c", DEFAULT_MIN_FINAL_CLTV)),  # type: ignore[call-overload]
        payment_secret=fields.get("s", b""),  # type: ignore[arg-type]
        fallback_address=str(fields.get("f", "")),
        route_hints=tuple(hints),
        features=frozenset(features),
    )
