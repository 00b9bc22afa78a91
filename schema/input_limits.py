"""Maximum length of every string input, by what the argument or input field means.

Checked by :mod:`schema.limits` before validation and before any service parses the value,
so an oversized descriptor never reaches the (quadratic) base58 decoder. Names not listed
get :data:`DEFAULT_MAX_LENGTH`. The table is documented in docs/security.md.
"""

from __future__ import annotations

DEFAULT_MAX_LENGTH = 1024

MAX_LENGTHS: dict[str, int] = {
    # Wallet material: a 15-key multisig descriptor with key origins is about 2,300 characters.
    "source": 8192,
    "descriptor": 8192,
    "xpub": 256,
    "fingerprint": 16,
    "derivationPath": 256,
    # BIP-329 labels: one label, its reference, and a whole JSON Lines import.
    "label": 255,
    "ref": 256,
    "jsonl": 512 * 1024,
    # Accounts.
    "email": 254,
    "password": 1024,
    "currentPassword": 1024,
    "newPassword": 1024,
    "otp": 64,
    "code": 64,
    "recoveryCode": 64,
    # Names everywhere (wallets, portfolios, nodes, cosigners).
    "name": 100,
    # Lightning.
    "host": 300,
    "tlsCert": 16 * 1024,
    "macaroon": 16 * 1024,
    "peer": 400,
    "paymentRequest": 8192,
    "memo": 1024,
    "channelPoint": 80,
    "chanId": 32,
    "remotePubkey": 132,
    "amountMsat": 40,
    # Spending: PSBTs carry full previous transactions (base64); raw transactions in hex.
    "psbt": 2 * 1024 * 1024,
    "psbts": 2 * 1024 * 1024,
    "hex": 2 * 1024 * 1024,
    "utxos": 80,
    "parts": 8192,
    "changeAddress": 100,
    # Money and prices.
    "currency": 10,
    "baseCurrency": 10,
    "txid": 64,
    "cost": 64,
    "amount": 64,
    # Ids, cursors and everything else short.
    "id": 128,
    "after": 512,
    "before": 512,
    "status": 64,
}


def max_length_for(name: str) -> int:
    """The cap of an argument or input field named ``name`` (ids: any name ending in ``Id``)."""
    if name in MAX_LENGTHS:
        return MAX_LENGTHS[name]
    if name.endswith("Id") or name.endswith("Ids"):
        return MAX_LENGTHS["id"]
    return DEFAULT_MAX_LENGTH
