"""Wallet types: Wallet, Address, Balance, Cosigner, Label, their inputs and enums.

Chain-sync fields: ``balance``, ``syncStatus``, ``syncError`` and ``lastSyncedAt`` resolve through
the operation's DataLoaders (``ctx.batch``, schema/loaders.py: one statement for every wallet of
the result) over the chain-sync area's read API, and fall back to the wallet row (``PENDING``,
zero balance) for a wallet never synced. ``transactions`` and ``utxos`` are the chain-sync area's
(schema/types/sync.py), batched the same way.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from app.bitcoin import multisig
from app.bitcoin.descriptors import Chain
from app.bitcoin.networks import Network
from app.services.wallet_labels import LabelImportResult
from app.services.wallets import AddressView, KeychainView, LabelView, WalletView
from schema.context import Context
from schema.enums import AddressChainEnum, NetworkEnum, ScriptTypeEnum, SyncStatus, WalletKind, sync_status_of
from schema.pagination import Connection, PageArgs, paged, to_connection
from schema.scalars import Sats

if TYPE_CHECKING:
    from schema.types.sync import SyncProgress, Transaction, Utxo


@strawberry.type(description="One signer of a multisig wallet.")
class Cosigner:
    name: str
    xpub: str = strawberry.field(description="Canonical xpub/tpub (SLIP-132 prefixes are normalised).")
    fingerprint: str = strawberry.field(description="Master key fingerprint, 8 hex characters.")
    derivation_path: str = strawberry.field(description="Path from the master key, e.g. m/48h/0h/0h/2h.")

    @classmethod
    def from_data(cls, c: multisig.Cosigner) -> Cosigner:
        return cls(name=c.name, xpub=c.xpub, fingerprint=c.fingerprint, derivation_path=c.derivation_path)


@strawberry.type
class Balance:
    confirmed: Sats
    unconfirmed: Sats
    total: Sats


@strawberry.type(description="A derived address of a wallet.")
class Address:
    address: str
    index: int
    chain: AddressChainEnum  # type: ignore[valid-type]
    keychain: int = strawberry.field(description="Which of the wallet's keychains (Wallet.keychains index).")
    used: bool = strawberry.field(description="Has received funds (as of the last sync).")
    reserved: bool = strawberry.field(description="Handed out by nextReceiveAddress.")
    balance: Sats
    tx_count: int
    label: str | None
    script_pubkey: str = strawberry.field(name="scriptPubKey", description="Hex scriptPubKey.")
    scripthash: str = strawberry.field(description="Electrum/Esplora script hash (reversed SHA-256, hex).")

    @classmethod
    def from_view(cls, a: AddressView) -> Address:
        return cls(
            address=a.address,
            index=a.index,
            chain=a.chain,
            keychain=a.keychain,
            used=a.used,
            reserved=a.reserved,
            balance=a.balance,
            tx_count=a.tx_count,
            label=a.label,
            script_pubkey=a.script_pubkey,
            scripthash=a.scripthash,
        )


@strawberry.type(description="A BIP-329 label.")
class Label:
    type: str = strawberry.field(description="tx, addr, output (also pubkey, input, xpub on import).")
    ref: str
    label: str
    spendable: bool | None = strawberry.field(
        default=None, description="Outputs only: false = frozen (never chosen by coin selection); null = not set."
    )
    origin: str | None = strawberry.field(default=None, description="BIP-329 origin (key origin, no keys).")

    @classmethod
    def from_view(cls, v: LabelView) -> Label:
        return cls(type=v.type, ref=v.ref, label=v.label, spendable=v.spendable, origin=v.origin)


@strawberry.type(description="What a BIP-329 import did.")
class LabelImport:
    imported: int = strawberry.field(description="Records applied (merged: absent fields kept their values).")
    skipped_records: int = strawberry.field(description="Records of a type BIP-329 does not define (ignored).")
    skipped_fields: int = strawberry.field(description="Unknown fields in applied records (ignored).")

    @classmethod
    def from_result(cls, r: LabelImportResult) -> LabelImport:
        return cls(imported=r.imported, skipped_records=r.skipped_records, skipped_fields=r.skipped_fields)


@strawberry.type(description="One keychain of a wallet (BDK-style): a single-path descriptor and its role.")
class WalletKeychain:
    index: int = strawberry.field(description="Its addresses' keychain number.")
    descriptor: str = strawberry.field(description="Single-path public descriptor with checksum.")
    internal: bool = strawberry.field(description="Change (internal) rather than receive (external).")
    ranged: bool = strawberry.field(description="Derives one script per index (/*); false: one script.")
    implied: bool = strawberry.field(
        description="The conventional change chain .../1/* added for a lone .../0/* descriptor."
    )
    script_type: ScriptTypeEnum  # type: ignore[valid-type]

    @classmethod
    def from_view(cls, k: KeychainView) -> WalletKeychain:
        return cls(
            index=k.index,
            descriptor=k.descriptor,
            internal=k.internal,
            ranged=k.ranged,
            implied=k.implied,
            script_type=k.script_type,
        )


@strawberry.type(description="A watch-only wallet.")
class Wallet:
    id: strawberry.ID
    name: str
    network: NetworkEnum  # type: ignore[valid-type]
    kind: WalletKind
    script_type: ScriptTypeEnum  # type: ignore[valid-type]
    descriptor: str = strawberry.field(
        description="The wallet's public descriptors with checksums, one per line (<0;1> form for the classic "
        "receive/change shapes); importing it gives the same wallet."
    )
    receive_descriptor: str = strawberry.field(description="The first receive (external) keychain's descriptor.")
    change_descriptor: str | None = strawberry.field(
        description="The first change (internal) keychain's descriptor; null when the wallet watches no change chain."
    )
    keychains: list[WalletKeychain] = strawberry.field(description="Every keychain, in address keychain order.")
    change_implied: bool = strawberry.field(
        description="The change chain .../1/* was added to a lone .../0/* descriptor (importWallet impliedChange)."
    )
    threshold: int | None = strawberry.field(description="Signatures needed (multisig only).")
    cosigners: list[Cosigner]
    gap_limit: int
    created_at: datetime
    birthday: date | None = strawberry.field(
        description="The wallet's first use as given at import (UTC date): a Bitcoin Core node rescans from there; "
        "null when not given (rescan from the first block, or MBF_CORE_RESCAN_SINCE)."
    )
    _view: strawberry.Private[WalletView]

    @classmethod
    def from_view(cls, v: WalletView) -> Wallet:
        return cls(
            id=strawberry.ID(v.id),
            name=v.name,
            network=v.network,
            kind=WalletKind(v.kind),
            script_type=v.script_type,
            descriptor=v.descriptor,
            receive_descriptor=v.receive_descriptor,
            change_descriptor=v.change_descriptor,
            keychains=[WalletKeychain.from_view(k) for k in v.keychains],
            change_implied=v.change_implied,
            threshold=v.threshold,
            cosigners=[Cosigner.from_data(c) for c in v.cosigners],
            gap_limit=v.gap_limit,
            created_at=v.created_at,
            birthday=v.birthday,
            _view=v,
        )

    def _key(self) -> tuple[str, str]:
        return (self._view.user_id, self._view.id)

    async def _sync_state(self, info: Info[Context, None]) -> Any:
        return await info.context.batch.sync_state.load(self._key())

    @strawberry.field(description="Confirmed and unconfirmed balance as of the last sync.")
    async def balance(self, info: Info[Context, None]) -> Balance:
        st = await self._sync_state(info)
        confirmed = int(getattr(st, "confirmed", 0) or 0)
        unconfirmed = int(getattr(st, "unconfirmed", 0) or 0)
        return Balance(confirmed=confirmed, unconfirmed=unconfirmed, total=confirmed + unconfirmed)

    @strawberry.field
    async def sync_status(self, info: Info[Context, None]) -> SyncStatus:
        st = await self._sync_state(info)
        if st is None or getattr(st, "status", "NEVER") == "NEVER":
            return sync_status_of(self._view.sync_status)
        return sync_status_of(st.status)

    @strawberry.field(description="The last sync error, if the last sync failed.")
    async def sync_error(self, info: Info[Context, None]) -> str | None:
        st = await self._sync_state(info)
        if st is not None and getattr(st, "status", None) == "ERROR":
            return str(st.last_error or "")
        return self._view.sync_error

    @strawberry.field
    async def last_synced_at(self, info: Info[Context, None]) -> datetime | None:
        st = await self._sync_state(info)
        return (getattr(st, "last_synced_at", None) if st is not None else None) or self._view.last_synced_at

    # -- chain-sync fields (schema/types/sync.py resolves them through the loaders) ----------

    @strawberry.field(description="The wallet's transactions, newest first (mempool, then by height).")
    @paged
    async def transactions(
        self,
        info: Info[Context, None],
        page: PageArgs,
    ) -> Connection[Annotated[Transaction, strawberry.lazy("schema.types.sync")]]:
        from schema.types.sync import wallet_transactions

        args = page
        return await wallet_transactions(info, self._view.user_id, self._view.id, args)

    @strawberry.field(
        description="Unspent outputs, largest first (unconfirmed ones included); the contract's list form of "
        "`utxoConnection`."
    )
    async def utxos(self, info: Info[Context, None]) -> list[Annotated[Utxo, strawberry.lazy("schema.types.sync")]]:
        from schema.types.sync import wallet_utxos

        internal = [k.internal for k in self._view.keychains]
        return await wallet_utxos(info, self._view.user_id, self._view.id, self._view.network, internal)

    @strawberry.field(
        description="The unspent outputs as a Relay connection, in the order of `utxos` (largest first, then "
        "txid and output index); the same batched read as `utxos`."
    )
    @paged
    async def utxo_connection(
        self,
        info: Info[Context, None],
        page: PageArgs,
    ) -> Connection[Annotated[Utxo, strawberry.lazy("schema.types.sync")]]:
        from schema.types.sync import utxo_page, wallet_utxos

        w = page.window(types=(int, str, int))
        internal = [k.internal for k in self._view.keychains]
        utxos = await wallet_utxos(info, self._view.user_id, self._view.id, self._view.network, internal)
        return to_connection(utxo_page(utxos, w), lambda u: u)

    @strawberry.field(description="Progress of the current sync, or the outcome of the last one.")
    async def sync_progress(
        self, info: Info[Context, None]
    ) -> Annotated[SyncProgress, strawberry.lazy("schema.types.sync")]:
        from schema.types.sync import wallet_sync_progress

        return await wallet_sync_progress(info, self._view.user_id, self._view.id)

    @strawberry.field(description="Derived addresses ordered by chain then index.")
    @paged
    async def addresses(
        self,
        info: Info[Context, None],
        page: PageArgs,
        chain: AddressChainEnum | None = None,  # type: ignore[valid-type]
        used: bool | None = None,
    ) -> Connection[Address]:
        chain_arg = None if chain is None else int(Chain(chain))
        w = page.window(types=(int, int))
        found = await info.context.batch.addresses.load((*self._key(), chain_arg, used, w))
        return to_connection(found, Address.from_view)


@strawberry.input(description="Import a watch-only wallet from an extended public key or descriptor(s).")
class ImportWalletInput:
    name: str
    source: str = strawberry.field(
        description=(
            "xpub/ypub/zpub (tpub/upub/vpub), optionally with [fingerprint/path] origin, or an output "
            "descriptor (any BIP-380..386/389 descriptor Bitcoin Core watches: miniscript, taproot trees, "
            "combo/addr/raw...; or external and internal descriptors on two lines)."
        )
    )
    network: NetworkEnum = Network.MAINNET  # type: ignore[valid-type]
    script_type: ScriptTypeEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Needed only when the source does not imply it (plain xpub/tpub)."
    )
    gap_limit: int | None = strawberry.field(default=None, description="Default 20.")
    implied_change: bool = strawberry.field(
        default=True,
        description="For a lone .../0/* descriptor, also watch the conventional change chain .../1/* "
        "(shown in Wallet.keychains as implied); false watches the given chain only.",
    )
    birthday: date | None = strawberry.field(
        default=None,
        description="The date (UTC) of the wallet's first transaction, if known: a Bitcoin Core backend rescans "
        "from it instead of from the first block. Between 2009-01-03 and today.",
    )


@strawberry.input
class CosignerInput:
    xpub: str = strawberry.field(description="xpub/tpub or Ypub/Zpub/Upub/Vpub, optionally with [origin].")
    name: str | None = None
    fingerprint: str | None = strawberry.field(default=None, description="Master fingerprint (8 hex).")
    derivation_path: str | None = strawberry.field(
        default=None, description="Defaults to BIP48 m/48'/coin'/0'/2' (P2WSH), /1' (P2SH_P2WSH), m/45' (P2SH)."
    )


@strawberry.input(description="Create a sorted-multisig (BIP67, sortedmulti) watch-only wallet.")
class CreateMultisigWalletInput:
    name: str
    threshold: int
    cosigners: list[CosignerInput]
    network: NetworkEnum = Network.MAINNET  # type: ignore[valid-type]
    script_type: ScriptTypeEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="P2WSH (default), P2SH_P2WSH or P2SH."
    )
    gap_limit: int | None = None
