"""scriptPubKey ⇄ address, and the Electrum/Esplora script hash.

Address strings are only needed where a human sees them (embit's bech32 is pure Python and
costs about as much as a derivation), so sync code works with scriptPubKey bytes and
:func:`scripthash` and encodes addresses lazily.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from embit.script import Script, address_to_scriptpubkey

from app.bitcoin.networks import Network
from app.errors import BadInput


def scripthash(script_pubkey: bytes) -> str:
    """Electrum protocol script hash: SHA256 of the scriptPubKey, byte-reversed, hex."""
    return hashlib.sha256(script_pubkey).digest()[::-1].hex()


@lru_cache(maxsize=65_536)
def address_from_script(script_pubkey: bytes, network: Network) -> str:
    """The address paying to ``script_pubkey`` on ``network`` (bc1q/bc1p/1/3, tb1/m/n/2, bcrt1).

    Memoised: read paths (UTXO lists, address pages) encode the same scripts on every request, and
    embit's bech32 encoder is pure Python and decodes its own output again to check it (about 40 µs a
    script). A script's address never changes; 65,536 entries are a few MB.
    """
    return Script(script_pubkey).address(network.params)


def script_from_address(address: str, network: Network, *, field: str = "address") -> bytes:
    """Decode an address and check it belongs to ``network``."""
    try:
        spk = address_to_scriptpubkey(address.strip()).data
    except Exception:
        raise BadInput(f"{address!r} is not a valid bitcoin address.", field=field) from None
    if address_from_script(spk, network) != _normalise(address):
        raise BadInput(f"{address!r} is not an address of the {network.value} network.", field=field)
    return spk


def _normalise(address: str) -> str:
    a = address.strip()
    return a.lower() if a[:3].lower() in ("bc1", "tb1") or a[:5].lower() == "bcrt1" else a
