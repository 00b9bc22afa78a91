"""Wallet key material decrypted, parsed and rendered once per process, not on every read.

Listing a wallet needs its public descriptors (three strings with checksums) and its cosigners;
both are stored encrypted. Decrypting, parsing and rendering them costs more than the rest of a
wallet's fields together, so :class:`WalletKeyCache` keeps the result per wallet id.

An entry is valid only for the ciphertexts it was decrypted from: a re-key (``mbf secrets
rotate``, in any process) changes them, so the next read decrypts again without waiting for any
event. Entries of renamed or deleted wallets are dropped when their ``walletUpdated``
event arrives, in every process that shares the event hub (Redis); a missed-events marker drops
that user's entries.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from app.bitcoin.keychains import WatchedWallet, parse_watched
from app.bitcoin.multisig import Cosigner
from app.bitcoin.networks import Network
from app.events.envelope import GAP, Event
from app.events.hub import EventHub
from app.security.crypto import Keyring
from app.store.models.wallets import Wallet

DROPPING_CHANGES = ("deleted", "renamed")


@dataclass(frozen=True, slots=True)
class WalletKeys:
    """A wallet's public key material as read paths need it."""

    descriptor: WatchedWallet
    multipath: str  # the wallet's descriptors with checksums (<0;1> form for the classic shapes)
    receive: str  # the first external keychain's descriptor
    change: str | None  # the first internal keychain's descriptor (None: no change chain)
    cosigners: tuple[Cosigner, ...]

    @classmethod
    def of(cls, desc: WatchedWallet, cosigners: list[Cosigner] | tuple[Cosigner, ...]) -> WalletKeys:
        external = [k.descriptor for k in desc.keychains if not k.internal]
        internal = [k.descriptor for k in desc.keychains if k.internal]
        return cls(desc, desc.source, external[0], internal[0] if internal else None, tuple(cosigners))


class WalletKeyCache:
    """wallet id -> :class:`WalletKeys`, checked against the row's ciphertexts on every use."""

    def __init__(self, keyring: Keyring, hub: EventHub) -> None:
        self.keyring = keyring
        self.hub = hub
        self.decrypted = 0  # wallets whose key material was decrypted (tests, to see the cache work)
        self._entries: dict[str, tuple[str, str | None, str, WalletKeys]] = {}  # id -> (enc, enc, user, keys)
        self._listeners: dict[str, Any] = {}  # user id -> event listener

    def __contains__(self, wallet_id: str) -> bool:
        return wallet_id in self._entries

    def get(self, row: Wallet) -> WalletKeys:
        hit = self._entries.get(row.id)
        if hit is not None and hit[0] == row.descriptor_enc and hit[1] == row.cosigners_enc:
            return hit[3]
        # the stored text lists every keychain explicitly (an implied change chain was stored as a line)
        text = self.keyring.decrypt(row.descriptor_enc, aad=row.user_id)
        desc = parse_watched(text, Network(row.network), implied_change=False)
        cosigners: list[Cosigner] = []
        if row.cosigners_enc:
            data = json.loads(self.keyring.decrypt(row.cosigners_enc, aad=row.user_id))
            cosigners = [Cosigner.from_dict(d) for d in data]
        self.decrypted += 1
        return self.put(row, desc, cosigners)

    def put(self, row: Wallet, desc: WatchedWallet, cosigners: list[Cosigner] | tuple[Cosigner, ...]) -> WalletKeys:
        """Remember what was just decrypted (or, at import, encrypted) for ``row``."""
        keys = WalletKeys.of(desc, cosigners)
        self._entries[row.id] = (row.descriptor_enc, row.cosigners_enc, row.user_id, keys)
        self._listen(row.user_id)
        return keys

    def drop(self, wallet_id: str) -> None:
        self._entries.pop(wallet_id, None)

    def _listen(self, user_id: str) -> None:
        if user_id in self._listeners:
            return
        self._listeners[user_id] = self.hub.fanout.listen(
            user_id, functools.partial(self._on_event, user_id), types={"walletUpdated"}
        )

    def _on_event(self, user_id: str, event: Event) -> None:
        if event.type == GAP:  # events may have been missed: forget this user's wallets
            for wallet_id in [w for w, entry in self._entries.items() if entry[2] == user_id]:
                del self._entries[wallet_id]
        elif event.payload.get("change") in DROPPING_CHANGES:
            self.drop(str(event.payload.get("walletId") or event.subject))

    def close(self) -> None:
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
        self._entries.clear()
