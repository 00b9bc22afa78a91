"""Derivation bounds and the library fallback: what a wallet may derive, and that losing
libsecp256k1 degrades to embit's pure-Python code instead of failing."""

from __future__ import annotations

import pytest

from app.bitcoin import derive
from app.bitcoin.derive import child_pubkeys, ckd_pub
from app.bitcoin.keys import HARDENED, parse_extended_key
from app.bitcoin.networks import Network

# BIP32 test vector 1, m/0H (a public parent with non-hardened children)
PARENT = (
    "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw"
)


@pytest.fixture
def parent():  # type: ignore[no-untyped-def]
    return parse_extended_key(PARENT, Network.MAINNET).xpub


def test_the_last_non_hardened_child_is_derivable_and_no_further(parent) -> None:  # type: ignore[no-untyped-def]
    last = HARDENED - 1
    (key,) = child_pubkeys(parent.pubkey, parent.chain_code, last, 1)
    assert key == ckd_pub(parent, last).pubkey and len(key) == 33
    assert child_pubkeys(parent.pubkey, parent.chain_code, last - 1, 2)[1] == key
    for start, count in ((last, 2), (HARDENED, 1), (-1, 1), (-1, 2)):
        with pytest.raises(ValueError, match="non-hardened"):
            child_pubkeys(parent.pubkey, parent.chain_code, start, count)
    with pytest.raises(ValueError, match="hardened"):
        ckd_pub(parent, HARDENED)


def test_a_missing_libsecp256k1_falls_back_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> None:
        raise OSError("libsecp256k1.so: cannot open shared object file")

    monkeypatch.setattr(derive, "_Secp", unavailable)
    assert derive._load_secp() is None
    monkeypatch.undo()
    assert derive._load_secp() is not None  # with the library: the fast path
