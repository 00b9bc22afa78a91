"""A BOLT11-shaped payment request for devlnd invoices.

The human-readable part, timestamp and tagged fields (payment hash ``p``, description ``d``,
expiry ``x``, payment secret ``s``) follow BOLT11 and the string is valid bech32, but the
65-byte signature is zeros: devlnd has no recoverable secp256k1 signer, and nothing pays it.
"""

from __future__ import annotations

from embit import bech32

HRP = {"mainnet": "lnbc", "testnet": "lntb", "signet": "lntbs", "regtest": "lnbcrt"}


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


def encode(
    network: str, amount_msat: int, timestamp: int, payment_hash: bytes, memo: str, expiry: int, payment_secret: bytes
) -> str:
    data = _int5(timestamp, 7)
    data += _tag("p", _bytes5(payment_hash))
    data += _tag("s", _bytes5(payment_secret))
    data += _tag("d", _bytes5(memo.encode()))
    data += _tag("x", _int5(expiry))
    data += _bytes5(bytes(65))
    return str(bech32.bech32_encode(bech32.Encoding.BECH32, HRP.get(network, "lnbcrt") + _amount(amount_msat), data))
