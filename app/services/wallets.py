"""Watch-only wallets: import, multisig creation, addresses, labels (BIP-329).

The wallet area owns keys, descriptors, derived addresses and labels; the chain-sync area
(``app/sync/``) owns transactions, UTXOs, balances and sync jobs. They meet at
three small interfaces, all implemented here:

- :meth:`WalletService.sync_target` / :meth:`WalletService.all_wallets` — the ``WalletSource``
  protocol that sync uses to derive a wallet's scripts (fast derivation, bytes only);
- :meth:`WalletService.reveal` — the ``RevealHook`` that sync calls inside its write
  transaction: it derives and stores more addresses when used ones approach the end of the
  gap window and refreshes the address caches (used / balance / tx count);
- :meth:`WalletService.connect_sync` — the port through which an import asks sync to start the
  wallet's first sync (``request_sync(user_id, wallet_id)``); without it the wallet stays
  ``PENDING``.

Key material (descriptors, cosigner xpubs) is stored only encrypted (``aad=user_id``) and never
logged: log lines carry wallet ids and script types only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, func, select

from app.bitcoin.addresses import address_from_script, script_from_address, scripthash
from app.bitcoin.derive import secp256k1_backend
from app.bitcoin.descriptors import Chain, WalletDescriptor
from app.bitcoin.keychains import WatchedWallet, from_legacy, parse_source
from app.bitcoin.multisig import Cosigner, CosignerSpec, build_multisig
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.config import Settings
from app.errors import BadInput, Conflict, NotFound
from app.events.envelope import Event
from app.events.hub import EventHub
from app.security.crypto import Keyring
from app.security.label_keys import contains_key_material, shown_ref, stored_ref
from app.services import audit
from app.services.wallet_keys import WalletKeyCache, WalletKeys
from app.services.wallet_labels import (
    MAX_LABEL,
    OUTPOINT,
    TXID,
    LabelImportResult,
    json_line,
    parse_label_lines,
)
from app.store.db import Store, Tx
from app.store.models.base import utcnow
from app.store.models.wallets import (
    KIND_MULTISIG,
    KIND_SINGLE,
    Wallet,
    WalletAddress,
    WalletLabel,
)
from app.store.paging import Page, Window, beyond_condition, keyset, page_of, window
from app.sync.queries import script_stats_in

log = structlog.get_logger(__name__)

MAX_GAP_LIMIT = 1000
MAX_NAME = 100
_TXID = TXID
_OUTPOINT = OUTPOINT

StartSync = Callable[[str, str], Awaitable[Any]]
# (user_id, wallet_id, records, address -> (chain, index), keypath(chain, index)) -> data fields
LabelFactsSource = Callable[..., Awaitable[dict[tuple[str, str], dict[str, Any]]]]


class Outpoint(NamedTuple):
    """A transaction output: ``txid`` (hex) and output index."""

    txid: str
    vout: int

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout}"


# ------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class ImportWalletInput:
    name: str
    source: str
    network: Network
    script_type: ScriptType | None = None
    gap_limit: int | None = None
    implied_change: bool = True  # a lone .../0/* also watches .../1/* (False: the given chain only)
    birthday: date | None = None  # the wallet's first use: a Bitcoin Core rescan starts there


@dataclass(frozen=True, slots=True)
class MultisigWalletInput:
    name: str
    network: Network
    threshold: int
    cosigners: Sequence[CosignerSpec]
    script_type: ScriptType | None = None
    gap_limit: int | None = None


# ------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class WalletView:
    """A wallet as the API shows it (public descriptor with checksum, never the raw row)."""

    id: str
    user_id: str
    name: str
    network: Network
    kind: str
    script_type: ScriptType
    threshold: int | None
    key_count: int
    gap_limit: int
    descriptor: str  # the wallet's descriptors with checksums (<0;1> form for the classic shapes)
    receive_descriptor: str
    change_descriptor: str | None
    cosigners: list[Cosigner]
    created_at: datetime
    sync_status: str
    sync_error: str | None
    last_synced_at: datetime | None
    keychains: tuple[KeychainView, ...] = ()
    change_implied: bool = False
    birthday: date | None = None


@dataclass(frozen=True, slots=True)
class KeychainView:
    """One keychain (BDK-style): a single-path descriptor, external (receive) or internal (change)."""

    index: int  # the ``chain`` of its addresses
    descriptor: str
    internal: bool
    ranged: bool
    implied: bool
    script_type: ScriptType


@dataclass(frozen=True, slots=True)
class WalletInfo:
    """A wallet's identity and kind, without its keys (what portfolios and reports need)."""

    id: str
    name: str
    kind: str
    script_type: str
    network: str


@dataclass(frozen=True, slots=True)
class AddressView:
    wallet_id: str
    address: str
    chain: Chain  # the role: RECEIVE (external) or CHANGE (internal)
    keychain: int  # which keychain of the wallet (Wallet.keychains), the stored chain number
    index: int
    script_pubkey: str
    scripthash: str
    used: bool
    reserved: bool
    balance: int
    tx_count: int
    label: str | None


@dataclass(frozen=True, slots=True)
class LabelView:
    type: str
    ref: str
    label: str
    spendable: bool | None = None
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class WalletSyncTarget:
    """What sync needs (same attributes as ``app.sync.model.SyncTarget``)."""

    user_id: str
    wallet_id: str
    network: str  # lower case: mainnet/testnet/signet/regtest
    gap_limit: int
    derive: Callable[[int, int, int], Sequence[bytes]]  # (chain, start, count) -> scriptPubKeys
    # public descriptors of the keychains, in keychain order (Bitcoin Core import)
    descriptors: tuple[str, ...] = ("", "")
    birthday: datetime | None = None  # where a node-side rescan may start (None: from the first block)
    # (chain, number of scripts or None when ranged) for every keychain of the wallet
    chains: tuple[tuple[int, int | None], ...] = ((0, None), (1, None))


# ------------------------------------------------------------------------------------- service


class WalletService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        settings: Settings,
        hub: EventHub,
        *,
        start_sync: StartSync | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings
        self.hub = hub
        self._start_sync = start_sync
        self._label_facts: LabelFactsSource | None = None
        self.keys = WalletKeyCache(keyring, hub)  # decrypted once per process (app/services/wallet_keys.py)

    # -- component lifecycle (the container calls these) -----------------------------------

    async def start(self) -> None:
        backend = secp256k1_backend()
        if backend != "libsecp256k1":
            log.warning(
                "secp256k1_fallback",
                backend=backend,
                detail="embit could not load its bundled libsecp256k1; address derivation and sync "
                "will be much slower. Install a platform with a prebuilt library or libsecp256k1.",
            )

    async def stop(self) -> None:
        self.keys.close()

    async def health(self) -> dict[str, Any]:
        backend = secp256k1_backend()
        return {"status": "ok" if backend == "libsecp256k1" else "degraded", "secp256k1": backend}

    def connect_sync(self, start_sync: StartSync) -> None:
        """Called by the container once the sync service exists: imports then start a first sync."""
        self._start_sync = start_sync

    def connect_label_facts(self, facts: LabelFactsSource) -> None:
        """Called by the container: BIP-329 exports then carry chain facts (height, fee, fmv...)."""
        self._label_facts = facts

    # -- create ------------------------------------------------------------------------------

    async def import_wallet(self, user_id: str, inp: ImportWalletInput) -> WalletView:
        name = _clean_name(inp.name)
        gap = self._gap_limit(inp.gap_limit)
        watched = parse_source(inp.source, inp.network, inp.script_type, implied_change=inp.implied_change)
        legacy = watched.legacy
        cosigners = _cosigners_of(legacy) if legacy is not None and legacy.is_multisig else []
        return await self._create(user_id, name, watched, cosigners, gap, _birthday(inp.birthday))

    async def create_multisig_wallet(self, user_id: str, inp: MultisigWalletInput) -> WalletView:
        name = _clean_name(inp.name)
        gap = self._gap_limit(inp.gap_limit)
        desc, cosigners = build_multisig(inp.network, inp.threshold, inp.cosigners, inp.script_type)
        return await self._create(user_id, name, from_legacy(desc), cosigners, gap)

    def _gap_limit(self, gap: int | None) -> int:
        if gap is None:
            return self.settings.default_gap_limit
        if not 1 <= gap <= MAX_GAP_LIMIT:
            raise BadInput(f"gapLimit must be between 1 and {MAX_GAP_LIMIT}.", field="gapLimit")
        return gap

    def fingerprint(self, user_id: str, desc: WatchedWallet | WalletDescriptor) -> str:
        """Keyed hash of the canonical descriptor: equal for the same wallet, opaque otherwise."""
        msg = f"{user_id}\n{desc.network.value}\n{desc.canonical()}".encode()
        # Keyed by the database's index key (installed at start-up), so it survives key rotation.
        return hmac.new(self.keyring.subkey("wallet-fingerprint"), msg, hashlib.sha256).hexdigest()

    async def _create(
        self,
        user_id: str,
        name: str,
        desc: WatchedWallet,
        cosigners: list[Cosigner],
        gap: int,
        birthday: datetime | None = None,
    ) -> WalletView:
        fingerprint = self.fingerprint(user_id, desc)
        counts = [gap if k.ranged else 1 for k in desc.keychains]
        wallet = Wallet(
            user_id=user_id,
            name=name,
            network=desc.network.value,
            kind=KIND_MULTISIG if desc.is_multisig else KIND_SINGLE,
            script_type=desc.script_type.value,
            threshold=desc.threshold,
            key_count=desc.key_count,
            gap_limit=gap,
            descriptor_enc=self.keyring.encrypt(desc.source, aad=user_id),
            cosigners_enc=(
                self.keyring.encrypt(json.dumps([c.to_dict() for c in cosigners]), aad=user_id) if cosigners else None
            ),
            fingerprint=fingerprint,
            birthday=birthday,
            next_receive_index=counts[0],
            next_change_index=counts[1] if len(counts) > 1 else 0,
        )
        rows = []
        for chain, count in enumerate(counts):
            rows += await derive_rows(user_id, wallet.id, desc, chain, 0, count)
        try:
            async with self.store.write() as s:
                existing = await s.exec(
                    select(Wallet.id).where(Wallet.user_id == user_id, Wallet.fingerprint == fingerprint)
                )
                if existing.first() is not None:
                    raise _duplicate()
                s.add(wallet)
                await s.flush()
                s.add_all(rows)
                audit.record(s, "wallet.added", user_id, wallet.id, detail=f"kind={wallet.kind}")
                s.on_commit(lambda: self._after_create(user_id, wallet.id))
        except IntegrityError:
            raise _duplicate() from None
        keys = self.keys.put(wallet, desc, cosigners)
        log.info(
            "wallet_imported",
            wallet=wallet.id,
            kind=wallet.kind,
            script_type=wallet.script_type,
            network=wallet.network,
        )
        return self._view(wallet, keys)

    async def _after_create(self, user_id: str, wallet_id: str) -> None:
        await self._publish(user_id, wallet_id, {"walletId": wallet_id, "change": "created"})
        if self._start_sync is not None:
            try:
                await self._start_sync(user_id, wallet_id)
            except Exception:  # the import succeeded; the sync status tells the rest
                log.exception("wallet_first_sync_request_failed", wallet=wallet_id)

    # -- read ------------------------------------------------------------------------------

    async def get_wallet(self, user_id: str, wallet_id: str) -> WalletView:
        async with self.store.read() as s:
            row = await _owned(s, user_id, wallet_id)
        return self._view_of(row)

    async def list_wallets(
        self,
        user_id: str,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[WalletView]:
        """Oldest first (creation time, then id)."""
        w = window(first, after, last, before, types=(str, str))
        order = [(col(Wallet.created_at), False), (col(Wallet.id), False)]
        # the cursor holds the creation time as ISO text: compare it as a datetime
        w = Window(w.size, w.backward, _created_key(w.after, "after"), _created_key(w.before, "before"))
        where, by = keyset(order, w)
        owned = col(Wallet.user_id) == user_id
        async with self.store.read() as s:
            rows = list((await s.exec(select(Wallet).where(owned, *where).order_by(*by).limit(w.size + 1))).all())
            total = (await s.exec(select(func.count()).select_from(Wallet).where(owned))).one()
            outside = beyond_condition(order, w)
            beyond = outside is not None and (await s.exec(select(sa.exists().where(owned, outside)))).one()
        return page_of(rows, w, int(total), lambda r: [r.created_at.isoformat(), r.id], beyond=bool(beyond)).map(
            self._view_of
        )

    async def wallets_of(self, user_id: str, wallet_ids: Sequence[str]) -> dict[str, WalletView]:
        """The user's wallets among ``wallet_ids`` (others are absent), one statement."""
        async with self.store.read() as s:
            rows = (
                await s.exec(select(Wallet).where(Wallet.user_id == user_id, col(Wallet.id).in_(list(wallet_ids))))
            ).all()
        return {r.id: self._view_of(r) for r in rows}

    async def descriptor(self, user_id: str, wallet_id: str) -> WalletDescriptor:
        """The wallet's receive/change template (for other services: PSBTs, address checks).

        Only the classic shapes have one (single key pkh/wpkh/sh(wpkh)/tr, multi/sortedmulti with a
        <0;1> pair); other wallets (miniscript, taproot trees, addr(), ...) are refused with
        BAD_USER_INPUT — read them with :meth:`watched`."""
        watched = await self.watched(user_id, wallet_id)
        if watched.legacy is None:
            raise BadInput(
                "This wallet's descriptors are not a single-key or multisig receive/change template.",
                field="walletId",
                hint="Its keychains are readable (Wallet.keychains); building transactions for it is not supported.",
            )
        return watched.legacy

    async def watched(self, user_id: str, wallet_id: str) -> WatchedWallet:
        """The wallet's descriptors and keychains (every kind of wallet)."""
        async with self.store.read() as s:
            row = await _owned(s, user_id, wallet_id)
        return self._descriptor(row)

    def _descriptor(self, row: Wallet) -> WatchedWallet:
        return self.keys.get(row).descriptor

    def _view_of(self, row: Wallet) -> WalletView:
        return self._view(row, self.keys.get(row))

    @staticmethod
    def _view(row: Wallet, keys: WalletKeys) -> WalletView:
        return WalletView(
            id=row.id,
            user_id=row.user_id,
            name=row.name,
            network=Network(row.network),
            kind=row.kind,
            script_type=ScriptType(row.script_type),
            threshold=row.threshold,
            key_count=row.key_count,
            gap_limit=row.gap_limit,
            descriptor=keys.multipath,
            receive_descriptor=keys.receive,
            change_descriptor=keys.change,
            cosigners=list(keys.cosigners),
            created_at=row.created_at,
            sync_status=row.sync_status,
            sync_error=row.sync_error,
            last_synced_at=row.last_synced_at,
            keychains=tuple(
                KeychainView(i, k.descriptor, k.internal, k.ranged, k.implied, k.script_type)
                for i, k in enumerate(keys.descriptor.keychains)
            ),
            change_implied=keys.descriptor.change_implied,
            birthday=row.birthday.date() if row.birthday is not None else None,
        )

    # -- update / delete ------------------------------------------------------------------

    async def rename_wallet(self, user_id: str, wallet_id: str, name: str) -> WalletView:
        clean = _clean_name(name)
        async with self.store.write() as s:
            row = await _owned(s, user_id, wallet_id)
            row.name = clean
            s.add(row)
            s.on_commit(lambda: self._publish(user_id, wallet_id, {"walletId": wallet_id, "change": "renamed"}))
        return self._view_of(row)

    async def delete_wallet(self, user_id: str, wallet_id: str) -> bool:
        async with self.store.write() as s:
            await _owned(s, user_id, wallet_id)
            # Children go too (ON DELETE CASCADE); explicit deletes keep SQLite without FK
            # enforcement correct as well.
            for table in (WalletAddress, WalletLabel):
                await s.exec(sa.delete(table).where(col(table.wallet_id) == wallet_id))
            await s.exec(sa.delete(Wallet).where(col(Wallet.id) == wallet_id, col(Wallet.user_id) == user_id))
            audit.record(s, "wallet.removed", user_id, wallet_id)
            s.on_commit(lambda: self._publish(user_id, wallet_id, {"walletId": wallet_id, "change": "deleted"}))
        self.keys.drop(wallet_id)
        log.info("wallet_deleted", wallet=wallet_id)
        return True

    # -- addresses ------------------------------------------------------------------------

    async def next_receive_address(self, user_id: str, wallet_id: str) -> AddressView:
        """The first receive address neither used nor handed out before; marks it reserved.

        When every stored receive address is used or reserved, ``gap_limit`` more are derived,
        so the window the sync scans (see :meth:`sync_target`) always covers handed-out ones.
        """
        return await self._reserve_next(user_id, wallet_id, Chain.RECEIVE)

    async def reserve_change_address(self, user_id: str, wallet_id: str) -> AddressView:
        """The next change address neither used nor reserved, marked reserved: a PSBT draft's
        change, so two drafts never pay change to the same address (the spending area)."""
        return await self._reserve_next(user_id, wallet_id, Chain.CHANGE)

    async def _reserve_next(self, user_id: str, wallet_id: str, chain: Chain) -> AddressView:
        async with self.store.write() as s:
            wallet = await _owned(s, user_id, wallet_id, for_update=True, field="walletId")
            watched = self._descriptor(wallet)
            # the first keychain of that role (receive: keychain 0, change: the first internal one)
            k = next((i for i, kc in enumerate(watched.keychains) if kc.internal == (chain is Chain.CHANGE)), None)
            if k is None:
                raise BadInput("This wallet watches no change chain.", field="walletId")
            conds: list[Any] = [WalletAddress.wallet_id == wallet_id, WalletAddress.chain == k]
            if watched.keychains[k].ranged:
                conds += [col(WalletAddress.used).is_(False), col(WalletAddress.reserved).is_(False)]
            # a non-ranged keychain (addr(), one key) has one script: it is always the answer
            q = select(WalletAddress).where(*conds).order_by(col(WalletAddress.index)).limit(1)
            addr = (await s.exec(q)).first()
            if addr is None:
                if k == 0:
                    start = wallet.next_receive_index
                elif k == 1:
                    start = wallet.next_change_index
                else:
                    top = (
                        await s.exec(
                            select(func.max(WalletAddress.index)).where(
                                WalletAddress.wallet_id == wallet_id, WalletAddress.chain == k
                            )
                        )
                    ).one()
                    start = 0 if top is None else int(top) + 1
                rows = await derive_rows(user_id, wallet_id, watched, k, start, wallet.gap_limit)
                s.add_all(rows)
                if k == 0:
                    wallet.next_receive_index = start + wallet.gap_limit
                elif k == 1:
                    wallet.next_change_index = start + wallet.gap_limit
                s.add(wallet)
                addr = rows[0]
            addr.reserved = True
            addr.reserved_at = utcnow()
            s.add(addr)
            label = await _address_labels(s, [wallet_id], [addr.address])
        return _address_view(addr, label.get((wallet_id, addr.address)), [k.internal for k in watched.keychains])

    async def addresses(
        self,
        user_id: str,
        wallet_id: str,
        *,
        chain: Chain | None = None,
        used: bool | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[AddressView]:
        """Derived addresses ordered by (chain, index), optionally filtered."""
        w = window(first, after, last, before, types=(int, int))
        async with self.store.read() as s:
            await _owned(s, user_id, wallet_id)
        pages = await self.addresses_of(user_id, [wallet_id], w, chain=chain, used=used)
        return pages[wallet_id]

    async def addresses_of(
        self,
        user_id: str,
        wallet_ids: Sequence[str],
        w: Window,
        *,
        chain: Chain | None = None,
        used: bool | None = None,
    ) -> dict[str, Page[AddressView]]:
        """One page of addresses (order of :meth:`addresses`) per wallet, with their labels: three
        statements whatever the number of wallets (four with a cursor): the wallets' keychains
        give each address its RECEIVE/CHANGE role. ``w``: :func:`app.store.paging.window` with
        ``types=(int, int)``."""
        ids = list(wallet_ids)
        async with self.store.read() as s:
            owned = (await s.exec(select(Wallet).where(Wallet.user_id == user_id, col(Wallet.id).in_(ids)))).all()
        # per wallet, which keychains are change (internal): the RECEIVE/CHANGE role of an address
        internal = {o.id: [k.internal for k in self._descriptor(o).keychains] for o in owned}
        conds: list[Any] = [col(WalletAddress.wallet_id).in_(ids), WalletAddress.user_id == user_id]
        if chain is not None:
            change = chain is Chain.CHANGE
            conds.append(
                sa.or_(
                    *(
                        sa.and_(
                            col(WalletAddress.wallet_id) == wallet_id,
                            col(WalletAddress.chain).in_([i for i, x in enumerate(roles) if x == change]),
                        )
                        for wallet_id, roles in internal.items()
                    ),
                    sa.false(),
                )
            )
        if used is not None:
            conds.append(col(WalletAddress.used).is_(used))
        order = [(col(WalletAddress.chain), False), (col(WalletAddress.index), False)]
        between, by = keyset(order, w)
        position = sa.func.row_number().over(partition_by=col(WalletAddress.wallet_id), order_by=by)
        total = sa.func.count().over(partition_by=col(WalletAddress.wallet_id))
        inner = (
            select(WalletAddress, position.label("position"), total.label("total")).where(*conds, *between).subquery()
        )
        row = aliased(WalletAddress, inner)
        q = (
            select(row, inner.c.total)
            .where(inner.c.position <= w.size + 1)
            .order_by(inner.c.wallet_id, inner.c.position)
        )
        rows: dict[str, list[WalletAddress]] = {i: [] for i in ids}
        totals: dict[str, int] = dict.fromkeys(ids, 0)
        beyond: dict[str, bool] = dict.fromkeys(ids, False)
        async with self.store.read() as s:
            for a, n in (await s.exec(q)).all():
                rows[a.wallet_id].append(a)
                totals[a.wallet_id] = int(n)
            if w.cursors:  # the totals above counted only the rows between the cursors
                outside = beyond_condition(order, w)
                counts = await s.exec(
                    select(
                        WalletAddress.wallet_id,
                        func.count(),
                        func.count(sa.case((outside if outside is not None else sa.false(), 1))),
                    )
                    .where(*conds)
                    .group_by(col(WalletAddress.wallet_id))
                )
                for wallet_id, n, past in counts:
                    totals[wallet_id], beyond[wallet_id] = int(n), int(past) > 0
            shown = [a.address for page in rows.values() for a in page[: w.size]]
            labels = await _address_labels(s, ids, shown) if shown else {}
        return {
            wallet_id: page_of(page, w, totals[wallet_id], lambda a: [a.chain, a.index], beyond=beyond[wallet_id]).map(
                lambda a: _address_view(
                    a, labels.get((a.wallet_id, a.address)), internal.get(a.wallet_id, (False, True))
                )
            )
            for wallet_id, page in rows.items()
        }

    # -- labels (BIP-329) -----------------------------------------------------------------

    async def set_label(self, user_id: str, wallet_id: str, ref: str, label: str) -> LabelView:
        """Label an address, a transaction (txid) or an output (``txid:vout``); empty removes it
        (an output's frozen state stays). The text is stored as given (no trimming)."""
        async with self.store.write() as s:
            wallet = await _owned(s, user_id, wallet_id, field="walletId")
            type_, ref_norm = _label_ref(ref.strip(), Network(wallet.network))
            text = _clean_label(label, field="label")
            existing = await _label_row(s, wallet_id, type_, ref_norm)
            spendable = existing.spendable if existing is not None else None
            if not text and spendable is None:
                if existing is not None:
                    await s.delete(existing)
            elif existing is None:
                s.add(WalletLabel(user_id=user_id, wallet_id=wallet_id, type=type_, ref=ref_norm, label=text))
            else:
                existing.label, existing.updated_at = text, utcnow()
                s.add(existing)
            s.on_commit(lambda: self._publish(user_id, wallet_id, {"walletId": wallet_id, "change": "labels"}))
        return LabelView(type_, ref_norm, text, spendable)

    async def set_output_spendable(self, user_id: str, wallet_id: str, outpoint: str, spendable: bool) -> LabelView:
        """Freeze (``spendable=False``) or unfreeze an output for coin selection (BIP-329's
        ``spendable``); the output's label is kept."""
        async with self.store.write() as s:
            await _owned(s, user_id, wallet_id, field="walletId")
            low = outpoint.strip().lower()
            if not _OUTPOINT.match(low):
                raise BadInput("outpoint is txid:vout (a 64-hex txid, a colon, the output index).", field="outpoint")
            row = await _label_row(s, wallet_id, "output", low)
            if spendable:  # unfreeze: true is every output's default, nothing to keep unless labelled
                if row is None:
                    view = LabelView("output", low, "", None)
                elif not row.label:
                    await s.delete(row)
                    view = LabelView("output", low, "", None, row.origin)
                else:
                    row.spendable, row.updated_at = None, utcnow()
                    s.add(row)
                    view = LabelView("output", low, row.label, None, row.origin)
            else:
                if row is None:
                    row = WalletLabel(user_id=user_id, wallet_id=wallet_id, type="output", ref=low, label="")
                row.spendable, row.updated_at = False, utcnow()
                s.add(row)
                view = LabelView("output", low, row.label, False, row.origin)
            s.on_commit(lambda: self._publish(user_id, wallet_id, {"walletId": wallet_id, "change": "labels"}))
        return view

    async def frozen_outpoints(self, user_id: str, wallet_id: str) -> frozenset[Outpoint]:
        """The wallet's frozen outputs (BIP-329 ``spendable: false``): coin selection never picks
        them automatically. Stable read API for the spending area."""
        async with self.store.read() as s:
            await _owned(s, user_id, wallet_id, field="walletId")
            rows = (
                await s.exec(
                    select(WalletLabel.ref).where(
                        WalletLabel.wallet_id == wallet_id,
                        WalletLabel.user_id == user_id,
                        WalletLabel.type == "output",
                        col(WalletLabel.spendable).is_(False),
                    )
                )
            ).all()
        out = set()
        for ref in rows:
            txid, _, vout = ref.partition(":")
            out.add(Outpoint(txid, int(vout)))
        return frozenset(out)

    async def labels(self, user_id: str, wallet_id: str, type_: str | None = None) -> dict[tuple[str, str], str]:
        """``{(type, ref): label}`` of a wallet, e.g. for transaction and UTXO labels."""
        async with self.store.read() as s:
            await _owned(s, user_id, wallet_id)
            q = select(WalletLabel).where(WalletLabel.wallet_id == wallet_id, WalletLabel.user_id == user_id)
            if type_ is not None:
                q = q.where(WalletLabel.type == type_)
            rows = (await s.exec(q)).all()
        return {(r.type, shown_ref(self.keyring, user_id, r.ref, r.ref_enc)): r.label for r in rows}

    async def labels_of(self, user_id: str, wallet_ids: Sequence[str]) -> dict[str, dict[tuple[str, str], str]]:
        """:meth:`labels` of many wallets of the user (others answer empty), one statement."""
        out: dict[str, dict[tuple[str, str], str]] = {w: {} for w in wallet_ids}
        async with self.store.read() as s:
            rows = (
                await s.exec(
                    select(WalletLabel).where(
                        WalletLabel.user_id == user_id, col(WalletLabel.wallet_id).in_(list(wallet_ids))
                    )
                )
            ).all()
        for r in rows:
            out[r.wallet_id][(r.type, shown_ref(self.keyring, user_id, r.ref, r.ref_enc))] = r.label
        return out

    async def wallet_infos(self, user_id: str) -> list[WalletInfo]:
        """Every wallet of the user, by name (no key material is decrypted)."""
        async with self.store.read() as s:
            rows = (await s.exec(select(Wallet).where(Wallet.user_id == user_id))).all()
        infos = [WalletInfo(r.id, r.name, r.kind, r.script_type, r.network) for r in rows]
        return sorted(infos, key=lambda w: w.name.lower())

    async def tx_labels(self, user_id: str) -> dict[str, str]:
        """``{txid: label}`` across the user's wallets (transaction labels only)."""
        async with self.store.read() as s:
            rows = await s.exec(select(WalletLabel).where(WalletLabel.user_id == user_id, WalletLabel.type == "tx"))
            return {r.ref: r.label for r in rows}

    async def export_labels(self, user_id: str, wallet_id: str) -> str:
        """BIP-329 JSON Lines: ``type``, ``ref``, ``label`` (``origin``, ``spendable`` when stored)
        plus the data fields the sync knows (see :mod:`app.services.label_facts`)."""
        async with self.store.read() as s:
            wallet = await _owned(s, user_id, wallet_id, field="walletId")
            rows = (
                await s.exec(
                    select(WalletLabel)
                    .where(WalletLabel.wallet_id == wallet_id, WalletLabel.user_id == user_id)
                    .order_by(col(WalletLabel.type), col(WalletLabel.ref))
                )
            ).all()
            addr_refs = [r.ref for r in rows if r.type == "addr"]
            positions: dict[str, tuple[int, int]] = {}
            if addr_refs:
                found = await s.exec(
                    select(WalletAddress.address, WalletAddress.chain, WalletAddress.index).where(
                        WalletAddress.wallet_id == wallet_id, col(WalletAddress.address).in_(addr_refs)
                    )
                )
                positions = {a: (c, i) for a, c, i in found.all()}
        records = [(r, shown_ref(self.keyring, user_id, r.ref, r.ref_enc)) for r in rows]
        facts: dict[tuple[str, str], dict[str, Any]] = {}
        if self._label_facts is not None and records:
            desc = self._descriptor(wallet)
            facts = await self._label_facts(
                user_id, wallet_id, [(r.type, ref) for r, ref in records], positions, lambda c, i: _keypath(desc, c, i)
            )
        lines = []
        for r, ref in records:
            obj: dict[str, Any] = {"type": r.type, "ref": ref, "label": r.label}
            if r.origin is not None:
                obj["origin"] = r.origin
            if r.spendable is not None:
                obj["spendable"] = r.spendable
            obj.update(facts.get((r.type, ref), {}))
            lines.append(json_line(obj))
        await audit.AuditLog(self.store).add("labels.exported", user_id, wallet_id, detail=f"labels={len(lines)}")
        return "".join(line + "\n" for line in lines)

    async def import_labels(self, user_id: str, wallet_id: str, jsonl: str) -> LabelImportResult:
        """Validate every line first (an error names the line, nothing is written), then merge all
        in one transaction: fields a record omits keep their stored values (BIP-329)."""
        async with self.store.read() as s:
            wallet = await _owned(s, user_id, wallet_id, field="walletId")
        parsed = parse_label_lines(jsonl, Network(wallet.network))
        now = utcnow()
        async with self.store.write() as s:
            await _owned(s, user_id, wallet_id, field="walletId")
            existing = {
                (r.type, r.ref): r
                for r in (await s.exec(select(WalletLabel).where(WalletLabel.wallet_id == wallet_id))).all()
            }
            for rec in parsed.records.values():
                ref, ref_enc = stored_ref(self.keyring, user_id, wallet_id, rec.type, rec.ref)
                row = existing.get((rec.type, ref))
                label = rec.label if rec.label is not None else (row.label if row is not None else "")
                spendable = rec.spendable if rec.spendable is not None else (row.spendable if row is not None else None)
                origin = rec.origin if rec.origin is not None else (row.origin if row is not None else None)
                if not label and spendable is None:  # nothing left to keep: an empty label removes it
                    if row is not None:
                        await s.delete(row)
                        existing.pop((rec.type, ref))
                    continue
                if row is None:
                    row = WalletLabel(
                        user_id=user_id, wallet_id=wallet_id, type=rec.type, ref=ref, ref_enc=ref_enc, label=label
                    )
                    existing[(rec.type, ref)] = row
                row.label, row.spendable, row.origin, row.updated_at = label, spendable, origin, now
                s.add(row)
            s.on_commit(lambda: self._publish(user_id, wallet_id, {"walletId": wallet_id, "change": "labels"}))
        return LabelImportResult(len(parsed.records), parsed.skipped_records, parsed.skipped_fields)

    # -- the chain-sync area's interfaces -------------------------------------------------

    async def all_wallets(self) -> list[tuple[str, str]]:
        """Every wallet as (user_id, wallet_id), for the periodic sync scheduler."""
        async with self.store.read() as s:
            rows = (await s.exec(select(Wallet.user_id, Wallet.id))).all()
        return [(u, w) for u, w in rows]

    async def sync_target(self, user_id: str, wallet_id: str) -> WalletSyncTarget:
        """Derivation for sync: ``derive(chain, start, count)`` returns scriptPubKey bytes.

        ``gap_limit`` is widened so that every receive address handed out by
        :meth:`next_receive_address` beyond the last used one stays inside the scanned window.
        """
        async with self.store.read() as s:
            row = await _owned(s, user_id, wallet_id)
            last_used = (
                await s.exec(
                    select(func.max(WalletAddress.index)).where(
                        WalletAddress.wallet_id == wallet_id,
                        WalletAddress.chain == int(Chain.RECEIVE),
                        col(WalletAddress.used).is_(True),
                    )
                )
            ).one()
            last_reserved = (
                await s.exec(
                    select(func.max(WalletAddress.index)).where(
                        WalletAddress.wallet_id == wallet_id,
                        WalletAddress.chain == int(Chain.RECEIVE),
                        col(WalletAddress.reserved).is_(True),
                    )
                )
            ).one()
        keychains = self._descriptor(row).keychains

        def derive(chain: int, start: int, count: int) -> Sequence[bytes]:
            return keychains[chain].script_pubkeys(start, count)

        gap = row.gap_limit
        if last_reserved is not None:
            gap += max(0, int(last_reserved) - (-1 if last_used is None else int(last_used)))
        return WalletSyncTarget(
            user_id,
            wallet_id,
            Network(row.network).value.lower(),
            gap,
            derive,
            tuple(k.descriptor for k in keychains),
            chains=tuple((i, None if k.ranged else 1) for i, k in enumerate(keychains)),
            birthday=row.birthday,
        )

    async def reveal(self, s: Tx, user_id: str, wallet_id: str, used: dict[int, int]) -> None:
        """RevealHook, inside sync's write transaction: extend the stored windows past the last
        used index per chain by ``gap_limit``, refresh address caches from ``wallet_scripts`` and
        mark the wallet synced."""
        wallet = await _owned(s, user_id, wallet_id, for_update=True)
        desc = self._descriptor(wallet)
        for chain, keychain in enumerate(desc.keychains):
            if not keychain.ranged:
                continue  # one script, stored at import
            attr = {0: "next_receive_index", 1: "next_change_index"}.get(chain)
            if attr is not None:
                stored = int(getattr(wallet, attr))
            else:  # keychains beyond the first two: the stored window is the rows themselves
                top = (
                    await s.exec(
                        select(func.max(WalletAddress.index)).where(
                            WalletAddress.wallet_id == wallet_id, WalletAddress.chain == chain
                        )
                    )
                ).one()
                stored = -1 if top is None else int(top) + 1
                stored = max(stored, 0)
            want = used.get(chain, -1) + 1 + wallet.gap_limit
            if want > stored:
                s.add_all(await derive_rows(user_id, wallet_id, desc, chain, stored, want - stored))
                if attr is not None:
                    setattr(wallet, attr, want)
        await s.flush()
        stats = await script_stats_in(s, user_id, wallet_id)
        if stats:
            rows = (await s.exec(select(WalletAddress).where(WalletAddress.wallet_id == wallet_id))).all()
            for a in rows:
                st = stats.get((a.chain, a.index))
                if st is None:
                    continue
                if (a.used, a.balance, a.tx_count) != (st.used, st.balance, st.tx_count):
                    a.used, a.balance, a.tx_count = st.used, st.balance, st.tx_count
                    s.add(a)
        wallet.sync_status, wallet.sync_error, wallet.last_synced_at = "SYNCED", None, utcnow()
        s.add(wallet)

    # -- events ---------------------------------------------------------------------------

    async def _publish(self, user_id: str, wallet_id: str, payload: dict[str, Any]) -> None:
        await self.hub.publish(Event(type="walletUpdated", user_id=user_id, subject=wallet_id, payload=payload))


# ------------------------------------------------------------------------------------- helpers


def _duplicate() -> Conflict:
    return Conflict(
        "You already have this wallet (same keys and script type).",
        field="source",
        hint="Open the existing wallet instead, or rename it.",
    )


GENESIS_DATE = date(2009, 1, 3)


def _birthday(day: date | None) -> datetime | None:
    """The wallet's birthday as UTC midnight; a date before Bitcoin or in the future is refused."""
    if day is None:
        return None
    today = datetime.now(UTC).date()
    if not GENESIS_DATE <= day <= today:
        raise BadInput(
            f"birthday must be between {GENESIS_DATE.isoformat()} and today ({today.isoformat()}).",
            field="birthday",
            hint="the date of the wallet's first transaction, or leave it out when unknown",
        )
    return datetime.combine(day, time.min, UTC)


def _clean_name(name: str) -> str:
    clean = " ".join((name or "").split())
    if not clean:
        raise BadInput("Give the wallet a name.", field="name")
    if len(clean) > MAX_NAME:
        raise BadInput(f"The name is too long (at most {MAX_NAME} characters).", field="name")
    return clean


def _cosigners_of(desc: WalletDescriptor) -> list[Cosigner]:
    """Cosigner list of a multisig imported as a descriptor (names are generated)."""
    from app.bitcoin.keys import format_path

    out = []
    for i, k in enumerate(desc.keys):
        origin = k.origin
        out.append(
            Cosigner(
                name=f"Cosigner {i + 1}",
                xpub=k.xpub.to_base58(),
                fingerprint=origin.fingerprint.hex() if origin else "",
                derivation_path=format_path(origin.path) if origin else "",
            )
        )
    return out


async def derive_rows(
    user_id: str, wallet_id: str, desc: WatchedWallet, chain: int, start: int, count: int
) -> list[WalletAddress]:
    """Address rows for keychain ``chain`` indexes ``start..start+count-1``; big batches run in a
    worker thread (libsecp256k1 calls release the GIL) so the event loop stays responsive."""
    if count * desc.key_count <= 256:
        return _derive_rows(user_id, wallet_id, desc, chain, start, count)
    return await asyncio.to_thread(_derive_rows, user_id, wallet_id, desc, chain, start, count)


def _derive_rows(
    user_id: str, wallet_id: str, desc: WatchedWallet, chain: int, start: int, count: int
) -> list[WalletAddress]:
    spks = desc.keychains[chain].script_pubkeys(start, count)
    return [
        WalletAddress(
            user_id=user_id,
            wallet_id=wallet_id,
            chain=int(chain),
            index=start + n,
            script_pubkey=spk.hex(),
            scripthash=scripthash(spk),
            address=_address_or_empty(spk, desc.network),
        )
        for n, spk in enumerate(spks)
    ]


def _created_key(key: tuple[Any, ...] | None, field: str) -> tuple[Any, ...] | None:
    """A wallet list cursor (creation time as ISO text, id) as comparable values."""
    if key is None:
        return None
    try:
        return (datetime.fromisoformat(key[0]), key[1])
    except ValueError:
        raise BadInput(
            f"`{field}`: that cursor does not belong to this list.", field=field, hint="pass a cursor of `wallets`"
        ) from None


async def _owned(s: Tx, user_id: str, wallet_id: str, *, for_update: bool = False, field: str = "id") -> Wallet:
    """The user's wallet, or NotFound (also for another user's wallet); ``field`` names the argument."""
    q = select(Wallet).where(Wallet.id == wallet_id, Wallet.user_id == user_id)
    if for_update:
        q = q.with_for_update()
    row = (await s.exec(q)).first()
    if row is None:
        raise NotFound("No such wallet.", field=field)
    return row


async def _address_labels(s: Tx, wallet_ids: list[str], addresses: list[str]) -> dict[tuple[str, str], str]:
    """``{(wallet id, address): label}`` for these addresses of these wallets."""
    if not addresses:
        return {}
    rows = (
        await s.exec(
            select(WalletLabel).where(
                col(WalletLabel.wallet_id).in_(wallet_ids),
                WalletLabel.type == "addr",
                col(WalletLabel.ref).in_(addresses),
            )
        )
    ).all()
    return {(r.wallet_id, r.ref): r.label for r in rows}


def _address_or_empty(spk: bytes, network: Network) -> str:
    """The address of a script, or "" for scripts without one (P2PK, bare multisig, raw())."""
    try:
        return address_from_script(spk, network)
    except Exception:
        return ""


def _address_view(row: WalletAddress, label: str | None, internal: Sequence[bool] = (False, True)) -> AddressView:
    is_internal = internal[row.chain] if row.chain < len(internal) else row.chain == 1
    return AddressView(
        wallet_id=row.wallet_id,
        address=row.address,
        chain=Chain.CHANGE if is_internal else Chain.RECEIVE,
        keychain=row.chain,
        index=row.index,
        script_pubkey=row.script_pubkey,
        scripthash=row.scripthash,
        used=row.used,
        reserved=row.reserved,
        balance=row.balance,
        tx_count=row.tx_count,
        label=label,
    )


def _clean_label(label: Any, *, field: str) -> str:
    if not isinstance(label, str):
        raise BadInput("The label must be a string.", field=field)
    text = label  # kept byte for byte (BIP-329 labels are the user's text)
    if len(text) > MAX_LABEL:
        raise BadInput(f"The label is too long (at most {MAX_LABEL} characters).", field=field)
    if contains_key_material(text):
        raise BadInput("A label must not contain an extended key (xpub/xprv...).", field=field)
    return text


def _label_ref(ref: str, network: Network) -> tuple[str, str]:
    """Infer the BIP-329 type of a ``setLabel`` reference: txid, ``txid:vout`` or an address."""
    low = ref.lower()
    if _TXID.match(low):
        return "tx", low
    if _OUTPOINT.match(low):
        return "output", low
    try:
        script_from_address(ref, network, field="ref")
    except BadInput:
        raise BadInput(
            "ref must be a transaction id, an output (txid:vout) or an address of this wallet's network.",
            field="ref",
        ) from None
    return "addr", ref if not low.startswith(("bc1", "tb1", "bcrt1")) else low


async def _label_row(s: Tx, wallet_id: str, type_: str, ref: str) -> WalletLabel | None:
    q = select(WalletLabel).where(WalletLabel.wallet_id == wallet_id, WalletLabel.type == type_, WalletLabel.ref == ref)
    return (await s.exec(q)).first()


def _keypath(watched: WatchedWallet, chain: int, index: int) -> str | None:
    """BIP-329 ``keypath``: the unhardened steps after the key origin (``/0/5`` for
    ``wpkh([fp/84h/0h/0h]xpub/<0;1>/*)``), for single-key wallets and multisigs alike; for other
    wallets the full descriptor of that script (the BIP: a keypath not starting with / is one)."""
    desc = watched.legacy
    if desc is None:
        if chain >= len(watched.keychains):
            return None
        k = watched.keychains[chain]
        body = k.descriptor.rpartition("#")[0]
        return body.replace("/*", f"/{index}") if k.ranged else body
    key = desc.keys[0]
    if chain not in (0, 1):
        return None
    steps = [*key.steps, key.chains[chain], index]
    return "".join(f"/{s}" for s in steps)
