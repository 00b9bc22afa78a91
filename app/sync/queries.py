"""The sync area's typed read API: a wallet's sync state, balance, transactions, UTXOs and
per-script stats. Other areas (wallets, portfolios, reports, spend, GraphQL) read sync's tables
only through this, and get frozen views (:mod:`app.sync.model`: ``TxView``, ``OutputView``,
``ScriptView``, ``SyncStateView``, ``SyncJobView``; ``WalletMove`` for the analytics), never table
rows. Owner-scoped: every query takes the user id.

The views are built straight from the selected columns (no ORM instance: a dashboard reads hundreds,
and an ORM instance costs several times a row). The ``*_of`` methods take many wallet ids and answer
with one statement whatever their number (the GraphQL layer's DataLoaders call them once per level
of a query, see docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import col, select

from app.analytics.costbasis import WalletMove
from app.store.db import Store, Tx
from app.store.models.chain import (
    ACTIVE_TX_STATUSES,
    TX_CONFIRMED,
    SyncJob,
    WalletOutput,
    WalletScript,
    WalletSyncState,
    WalletTx,
)
from app.store.paging import Page, Window, beyond_condition, keyset, page_of
from app.sync.model import (
    AddressUse,
    Balance,
    OutputView,
    ScriptView,
    SyncJobView,
    SyncStateView,
    TxView,
    WalletHistory,
)


def _columns(table: Any, view: type) -> tuple[Any, ...]:
    """The table's columns named like the view's fields, in the view's order."""
    return _named(table, *(f.name for f in fields(view)))


def _named(table: Any, *names: str) -> tuple[Any, ...]:
    return tuple(table.__table__.c[name] for name in names)


_TX = _columns(WalletTx, TxView)
_OUTPUT = _columns(WalletOutput, OutputView)
_SCRIPT = _columns(WalletScript, ScriptView)
_STATE = _columns(WalletSyncState, SyncStateView)
_JOB = _columns(SyncJob, SyncJobView)
_N_TX = len(_TX)
_MOVE = _named(WalletTx, "wallet_id", "txid", "status", "block_time", "first_seen", "fee", "sent", "net_amount")


async def _run(s: Tx, q: sa.Executable) -> sa.CursorResult[*tuple[Any, ...]]:
    """Core rows, not ORM instances, on the session's connection (its transaction, its snapshot)."""
    return await (await s.connection()).execute(q)


async def script_stats_in(s: Tx, user_id: str, wallet_id: str) -> dict[tuple[int, int], ScriptView]:
    """The wallet's scripts by (chain, index), read in the caller's transaction: the wallets area's
    reveal hook runs inside sync's write and must see what that write has flushed."""
    rows = await _run(
        s,
        sa.select(*_SCRIPT).where(col(WalletScript.user_id) == user_id, col(WalletScript.wallet_id) == wallet_id),
    )
    return {(v.chain, v.index): v for v in (ScriptView(*r) for r in rows)}


def job_view(j: SyncJob) -> SyncJobView:
    """A job row (read or written by the service) as others see it."""
    return SyncJobView(*(getattr(j, c.name) for c in _JOB))


class SyncQueries:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def state(self, user_id: str, wallet_id: str) -> SyncStateView:
        return (await self.states(user_id, [wallet_id]))[wallet_id]

    async def states(self, user_id: str, wallet_ids: Sequence[str]) -> dict[str, SyncStateView]:
        """Each wallet's sync state (``NEVER`` for a wallet never synced, or another user's)."""
        async with self.store.read() as s:
            rows = await _run(
                s,
                sa.select(*_STATE).where(
                    col(WalletSyncState.user_id) == user_id, col(WalletSyncState.wallet_id).in_(list(wallet_ids))
                ),
            )
            found = {r.wallet_id: SyncStateView(*r) for r in rows}
        return {w: found.get(w) or SyncStateView(wallet_id=w) for w in wallet_ids}

    async def balance(self, user_id: str, wallet_id: str) -> Balance:
        st = await self.state(user_id, wallet_id)
        return Balance(st.confirmed, st.unconfirmed)

    async def transactions(
        self,
        user_id: str,
        wallet_id: str,
        *,
        first: int = 50,
        after: tuple[int, str] | None = None,
        include_inactive: bool = True,
    ) -> tuple[list[TxView], int]:
        """Newest first: mempool, then by height descending; ``after`` = (sort key, txid)."""
        order_key = sa.func.coalesce(col(WalletTx.height), 2**31 - 1)
        owned = sa.and_(col(WalletTx.user_id) == user_id, col(WalletTx.wallet_id) == wallet_id)
        async with self.store.read() as s:
            q = sa.select(*_TX).where(owned)
            count_q = sa.select(sa.func.count()).select_from(WalletTx).where(owned)
            if not include_inactive:
                q = q.where(col(WalletTx.status).in_(ACTIVE_TX_STATUSES))
                count_q = count_q.where(col(WalletTx.status).in_(ACTIVE_TX_STATUSES))
            if after is not None:
                key, txid = after
                q = q.where(sa.or_(order_key < key, sa.and_(order_key == key, col(WalletTx.txid) < txid)))
            q = q.order_by(order_key.desc(), col(WalletTx.txid).desc()).limit(first)
            rows = [TxView(*r) for r in await _run(s, q)]
            total = int((await _run(s, count_q)).scalar_one())
        return rows, total

    async def transactions_of(self, user_id: str, wallet_ids: Sequence[str], w: Window) -> dict[str, Page[TxView]]:
        """One page of each wallet's transactions (order of :meth:`transactions`, cursor
        :meth:`tx_sort_key`; ``w`` from :func:`app.store.paging.window` with ``types=(int, str)``)
        with each wallet's total: one statement (two with a cursor)."""
        ids = list(wallet_ids)
        order = [(sa.func.coalesce(col(WalletTx.height), 2**31 - 1), True), (col(WalletTx.txid), True)]
        owned = sa.and_(col(WalletTx.user_id) == user_id, col(WalletTx.wallet_id).in_(ids))
        between, by = keyset(order, w)
        position = sa.func.row_number().over(partition_by=col(WalletTx.wallet_id), order_by=by)
        total = sa.func.count().over(partition_by=col(WalletTx.wallet_id))
        inner = sa.select(*_TX, position.label("position"), total.label("total")).where(owned, *between).subquery()
        q = (
            sa.select(*(inner.c[c.name] for c in _TX), inner.c.total)
            .where(inner.c.position <= w.size + 1)
            .order_by(inner.c.wallet_id, inner.c.position)
        )
        rows: dict[str, list[TxView]] = {i: [] for i in ids}
        totals: dict[str, int] = dict.fromkeys(ids, 0)
        beyond: dict[str, bool] = dict.fromkeys(ids, False)
        async with self.store.read() as s:
            for r in (await _run(s, q)).all():
                rows[r.wallet_id].append(TxView(*r[:_N_TX]))
                totals[r.wallet_id] = int(r.total)
            if w.cursors:  # the totals above counted only the rows between the cursors
                outside = beyond_condition(order, w)
                counts = await s.exec(
                    select(
                        WalletTx.wallet_id,
                        sa.func.count(),
                        sa.func.count(sa.case((outside if outside is not None else sa.false(), 1))),
                    )
                    .where(owned)
                    .group_by(col(WalletTx.wallet_id))
                )
                for wallet_id, n, past in counts:
                    totals[wallet_id], beyond[wallet_id] = int(n), int(past) > 0
        return {i: page_of(rows[i], w, totals[i], self.tx_sort_key, beyond=beyond[i]) for i in ids}

    async def utxos_of(self, user_id: str, wallet_ids: Sequence[str]) -> dict[str, list[OutputView]]:
        """Each wallet's unspent outputs (order of :meth:`utxos`), one statement."""
        out: dict[str, list[OutputView]] = {w: [] for w in wallet_ids}
        async with self.store.read() as s:
            rows = await _run(
                s,
                sa.select(*_OUTPUT)
                .where(
                    col(WalletOutput.user_id) == user_id,
                    col(WalletOutput.wallet_id).in_(list(wallet_ids)),
                    col(WalletOutput.spent_by).is_(None),
                )
                .order_by(col(WalletOutput.value).desc(), col(WalletOutput.txid)),
            )
            for o in rows:
                out[o.wallet_id].append(OutputView(*o))
        return out

    async def transaction(self, user_id: str, wallet_id: str, txid: str) -> TxView | None:
        """One transaction of a wallet (any status), or None."""
        async with self.store.read() as s:
            q = sa.select(*_TX).where(
                col(WalletTx.user_id) == user_id, col(WalletTx.wallet_id) == wallet_id, col(WalletTx.txid) == txid
            )
            row = (await _run(s, q)).first()
        return TxView(*row) if row is not None else None

    @staticmethod
    def tx_sort_key(tx: TxView) -> tuple[int, str]:
        return (tx.height if tx.height is not None else 2**31 - 1, tx.txid)

    async def utxos(self, user_id: str, wallet_id: str) -> list[OutputView]:
        return (await self.utxos_of(user_id, [wallet_id]))[wallet_id]

    async def history(self, user_id: str, wallet_id: str) -> WalletHistory:
        """Every active transaction (with its stored inputs and outputs) and every output, spent or
        not, of one wallet, for exports that describe them (BIP-329 height/time/fee/value)."""
        async with self.store.read() as s:
            txs = await _run(
                s,
                sa.select(*_TX, col(WalletTx.io), col(WalletTx.weight)).where(
                    col(WalletTx.user_id) == user_id,
                    col(WalletTx.wallet_id) == wallet_id,
                    col(WalletTx.status).in_(ACTIVE_TX_STATUSES),
                ),
            )
            views, io = [], {}
            for r in txs:
                views.append(TxView(*r[:_N_TX]))
                io[r.txid] = (r.io, r.weight)
            outs = await _run(
                s,
                sa.select(*_OUTPUT).where(
                    col(WalletOutput.user_id) == user_id, col(WalletOutput.wallet_id) == wallet_id
                ),
            )
            return WalletHistory(views, [OutputView(*o) for o in outs], io)

    async def transactions_by_id(self, user_id: str, wallet_id: str, txids: Sequence[str]) -> dict[str, TxView]:
        """The wallet's view of these transactions (spending: is an unconfirmed parent ours?)."""
        if not txids:
            return {}
        async with self.store.read() as s:
            rows = await _run(
                s,
                sa.select(*_TX).where(
                    col(WalletTx.user_id) == user_id,
                    col(WalletTx.wallet_id) == wallet_id,
                    col(WalletTx.txid).in_(list(txids)),
                ),
            )
            return {r.txid: TxView(*r) for r in rows}

    async def script_stats(self, user_id: str, wallet_id: str) -> dict[tuple[int, int], ScriptView]:
        async with self.store.read() as s:
            return await script_stats_in(s, user_id, wallet_id)

    # -- across a user's wallets (portfolios, reports) ----------------------------------------------

    async def ledger(self, user_id: str) -> list[WalletMove]:
        """Every active transaction of every wallet of the user, one move per wallet."""
        async with self.store.read() as s:
            rows = await _run(
                s,
                sa.select(*_MOVE).where(col(WalletTx.user_id) == user_id, col(WalletTx.status).in_(ACTIVE_TX_STATUSES)),
            )
            return [_move(t) for t in rows]

    async def ledger_versions(self, user_id: str) -> dict[str, datetime]:
        """Each synced wallet's results stamp (the sync state's ``updated_at``, moved by every
        sync that writes): a cached ledger of the wallet is current while it is unchanged."""
        async with self.store.read() as s:
            rows = await s.exec(
                select(WalletSyncState.wallet_id, WalletSyncState.updated_at).where(WalletSyncState.user_id == user_id)
            )
            return {w: at for w, at in rows}

    async def ledger_changes(self, user_id: str, since: Mapping[str, datetime | None]) -> list[LedgerChange]:
        """The rows of each wallet of ``since`` written after its time (every row for None; one sync
        writes all its rows with one time, the next a later one):
        what a cached ledger needs to catch up, removals (reorged out, replaced) included."""
        conds = [
            col(WalletTx.wallet_id) == w
            if at is None
            else sa.and_(col(WalletTx.wallet_id) == w, col(WalletTx.updated_at) > at)
            for w, at in since.items()
        ]
        if not conds:
            return []
        async with self.store.read() as s:
            rows = await _run(
                s, sa.select(*_MOVE, col(WalletTx.updated_at)).where(col(WalletTx.user_id) == user_id, sa.or_(*conds))
            )
            return [
                LedgerChange(t.wallet_id, t.txid, t.updated_at, _move(t) if t.status in ACTIVE_TX_STATUSES else None)
                for t in rows
            ]

    async def ledger_sums(self, user_id: str, wallet_ids: Sequence[str]) -> dict[str, int]:
        """Net amount of each wallet's active transactions (a balance without a sync state)."""
        async with self.store.read() as s:
            rows = await s.exec(
                select(WalletTx.wallet_id, sa.func.sum(WalletTx.net_amount))
                .where(
                    WalletTx.user_id == user_id,
                    col(WalletTx.wallet_id).in_(list(wallet_ids)),
                    col(WalletTx.status).in_(ACTIVE_TX_STATUSES),
                )
                .group_by(col(WalletTx.wallet_id))
            )
            return {w: int(n or 0) for w, n in rows}

    async def has_transaction(self, user_id: str, txid: str) -> bool:
        """Whether any wallet of the user has ``txid`` (in any status)."""
        async with self.store.read() as s:
            q = select(WalletTx.id).where(WalletTx.user_id == user_id, WalletTx.txid == txid).limit(1)
            return (await s.exec(q)).first() is not None

    async def balances(self, user_id: str) -> dict[str, Balance]:
        """Balance per synced wallet of the user (a wallet never synced has no entry)."""
        async with self.store.read() as s:
            rows = await s.exec(select(WalletSyncState).where(WalletSyncState.user_id == user_id))
            return {r.wallet_id: Balance(r.confirmed, r.unconfirmed) for r in rows}

    async def unspent_values(self, user_id: str) -> dict[str, list[int]]:
        """The values of each wallet's unspent outputs."""
        out: dict[str, list[int]] = {}
        async with self.store.read() as s:
            rows = await s.exec(
                select(WalletOutput.wallet_id, WalletOutput.value).where(
                    WalletOutput.user_id == user_id, col(WalletOutput.spent_by).is_(None)
                )
            )
            for wallet_id, value in rows:
                out.setdefault(wallet_id, []).append(int(value))
        return out

    async def address_use(self, user_id: str) -> dict[str, AddressUse]:
        """Per wallet: how many addresses received funds, and how many of them more than once."""
        out: dict[str, AddressUse] = {}
        async with self.store.read() as s:
            rows = await s.exec(
                select(WalletOutput.wallet_id, sa.func.count())
                .where(WalletOutput.user_id == user_id)
                .group_by(col(WalletOutput.wallet_id), col(WalletOutput.chain), col(WalletOutput.index))
            )
            for wallet_id, n in rows:
                used, reused = out.get(wallet_id, AddressUse(0, 0))
                out[wallet_id] = AddressUse(used + 1, reused + (1 if int(n) > 1 else 0))
        return out


class LedgerChange(NamedTuple):
    wallet_id: str
    txid: str
    written_at: datetime
    move: WalletMove | None  # None: no longer active (reorged out, replaced, evicted)


def _move(t: Any) -> WalletMove:
    """The wallet's line for the analytics: the UTC day of its block time (first seen while
    unconfirmed), its signed amount, and the fee when this wallet sent and lost value."""
    return WalletMove(
        txid=t.txid,
        wallet_id=t.wallet_id,
        day=(t.block_time or t.first_seen).astimezone(UTC).date(),
        net_sats=t.net_amount,
        fee_sats=(t.fee or 0) if t.sent > 0 and t.net_amount < 0 else 0,
        confirmed=t.status == TX_CONFIRMED,
    )
