"""Chain-sync types: Transaction, Utxo, SyncJob, SyncProgress, and the Wallet fields that
resolve through the sync service (``info.context.container.sync``). Built from the sync area's
read views (``app.sync.model``: ``TxView``, ``OutputView``, ``SyncStateView``, ``SyncJobView``),
never from table rows."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from app.bitcoin.addresses import address_from_script
from app.bitcoin.descriptors import Chain
from app.bitcoin.networks import Network
from app.store.paging import Page, Window, paginate_list
from app.sync.model import JobKind, OutputView, Phase, SyncJobView, TxView
from schema.context import Context
from schema.enums import AddressChainEnum, SyncJobStatus, TxDirection, TxStatus, sync_job_kind_of, sync_phase_of
from schema.pagination import Connection, PageArgs, to_connection
from schema.scalars import Sats


@strawberry.type(description="A background sync of one wallet.")
class SyncJob:
    id: strawberry.ID
    wallet_id: strawberry.ID
    status: SyncJobStatus
    kind: JobKind = strawberry.field(description="Why it runs: asked for (INCREMENTAL, FULL) or by the server (AUTO).")
    phase: Phase | None = strawberry.field(description="The step it is at; DONE or FAILED once it ended.")
    addresses_scanned: int
    txs_found: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_view(cls, j: SyncJobView) -> SyncJob:
        return cls(
            id=strawberry.ID(j.id),
            wallet_id=strawberry.ID(j.wallet_id),
            status=SyncJobStatus(j.status),
            kind=sync_job_kind_of(j.kind),
            phase=sync_phase_of(j.phase),
            addresses_scanned=j.addresses_scanned,
            txs_found=j.txs_found,
            error=j.error,
            created_at=j.created_at,
            started_at=j.started_at,
            finished_at=j.finished_at,
        )


@strawberry.type(description="Progress and outcome of the wallet's current or last sync.")
class SyncProgress:
    phase: Phase | None = strawberry.field(description="The step the sync is at (null before the first sync).")
    addresses_scanned: int
    txs_found: int
    tip_height: int | None
    backend: str | None
    last_error: str | None


@strawberry.type(description="A transaction of a wallet, from the wallet's view.")
class Transaction:
    txid: str
    status: TxStatus
    block_height: int | None
    block_hash: str | None
    block_time: datetime | None
    first_seen: datetime
    confirmations: int
    fee: Sats | None = strawberry.field(description="Fee of the transaction (sat), when known.")
    fee_paid: bool = strawberry.field(description="The wallet paid (part of) the fee: it spent inputs.")
    vsize: int
    net_amount: Sats = strawberry.field(
        description="Received minus sent by this wallet (sat, signed; includes the fee when the wallet paid it)."
    )
    received: Sats
    sent: Sats
    direction: TxDirection
    replaced_by: str | None
    label: str | None

    @classmethod
    def from_view(cls, t: TxView, tip_height: int | None, label: str | None) -> Transaction:
        conf = 0
        if t.status == "confirmed" and t.height and tip_height:
            conf = max(0, tip_height - t.height + 1)
        return cls(
            txid=t.txid,
            status=TxStatus(t.status),
            block_height=t.height,
            block_hash=t.block_hash,
            block_time=t.block_time,
            first_seen=t.first_seen,
            confirmations=conf,
            fee=t.fee,
            fee_paid=t.sent > 0,
            vsize=t.vsize,
            net_amount=t.net_amount,
            received=t.received,
            sent=t.sent,
            direction=TxDirection(t.direction),
            replaced_by=t.replaced_by,
            label=label,
        )


@strawberry.type(description="An unspent output of the wallet (mempool outputs included).")
class Utxo:
    txid: str
    vout: int
    value: Sats
    address: str
    chain: AddressChainEnum  # type: ignore[valid-type]
    keychain: int = strawberry.field(description="Which of the wallet's keychains (Wallet.keychains index).")
    index: int
    block_height: int | None
    confirmations: int
    label: str | None

    @classmethod
    def from_view(
        cls,
        o: OutputView,
        network: Network,
        tip_height: int | None,
        label: str | None,
        internal: Sequence[bool] = (False, True),
    ) -> Utxo:
        conf = max(0, tip_height - o.height + 1) if (o.height and tip_height) else 0
        try:
            address = address_from_script(bytes.fromhex(o.script_pubkey), network)
        except Exception:  # P2PK, bare multisig, raw(): no address form
            address = ""
        is_internal = internal[o.chain] if o.chain < len(internal) else o.chain == 1
        return cls(
            txid=o.txid,
            vout=o.vout,
            value=o.value,
            address=address,
            chain=Chain.CHANGE if is_internal else Chain.RECEIVE,
            keychain=o.chain,
            index=o.index,
            block_height=o.height,
            confirmations=conf,
            label=label,
        )


# -- Wallet fields (called from schema/types/wallets.py): one batched load per level --------------


async def wallet_transactions(
    info: Info[Context, None], user_id: str, wallet_id: str, args: PageArgs
) -> Connection[Transaction]:
    w = args.window(types=(int, str))
    batch = info.context.batch
    page, state, labels = await asyncio.gather(
        batch.transactions.load((user_id, wallet_id, w)),
        batch.sync_state.load((user_id, wallet_id)),
        batch.labels.load((user_id, wallet_id)),
    )
    tip = state.tip_height
    return to_connection(page, lambda t: Transaction.from_view(t, tip, labels.get(("tx", t.txid))))


async def wallet_utxos(
    info: Info[Context, None],
    user_id: str,
    wallet_id: str,
    network: Network,
    internal: Sequence[bool] = (False, True),
) -> list[Utxo]:
    """``internal``: per keychain of the wallet, whether it is a change keychain (Wallet.keychains)."""
    batch = info.context.batch
    rows, state, labels = await asyncio.gather(
        batch.utxos.load((user_id, wallet_id)),
        batch.sync_state.load((user_id, wallet_id)),
        batch.labels.load((user_id, wallet_id)),
    )
    tip = state.tip_height
    return [Utxo.from_view(o, network, tip, labels.get(("output", f"{o.txid}:{o.vout}")), internal) for o in rows]


def _utxo_rank(key: Sequence[Any]) -> tuple[int, str, int]:
    return (-int(key[0]), str(key[1]), int(key[2]))


def utxo_page(utxos: list[Utxo], w: Window) -> Page[Utxo]:
    """A page of a wallet's UTXOs (value descending, then txid, then vout); a spent output's
    cursor keeps its place."""
    ordered = sorted(utxos, key=lambda u: (-u.value, u.txid, u.vout))
    return paginate_list(ordered, lambda u: (u.value, u.txid, u.vout), w, rank=_utxo_rank)


async def wallet_sync_progress(info: Info[Context, None], user_id: str, wallet_id: str) -> SyncProgress:
    st = await info.context.batch.sync_state.load((user_id, wallet_id))
    return SyncProgress(
        phase=sync_phase_of(st.phase),
        addresses_scanned=st.addresses_scanned,
        txs_found=st.txs_found,
        tip_height=st.tip_height,
        backend=st.backend,
        last_error=st.last_error,
    )
