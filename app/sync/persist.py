"""Persist: read a wallet's stored sync state, and write its new view as a difference from what
is stored, in the caller's transaction (never a half-updated wallet). Owner-scoped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from app.store.db import Tx
from app.store.models.chain import WalletOutput, WalletScript, WalletSyncState, WalletTx
from app.sync.codec import parse
from app.sync.model import ScriptRef, StoredScript, StoredTx, StoredWallet, SyncResult


async def load_stored(s: Tx, user_id: str, wallet_id: str) -> StoredWallet:
    out = StoredWallet()
    rows = await s.exec(
        select(WalletScript).where(WalletScript.user_id == user_id, WalletScript.wallet_id == wallet_id)
    )
    for r in rows:
        ref = ScriptRef(r.chain, r.index, r.script_pubkey, r.scripthash)
        out.scripts[(r.chain, r.index)] = StoredScript(ref, r.status, r.tx_count, r.used)
    txs = await s.exec(select(WalletTx).where(WalletTx.user_id == user_id, WalletTx.wallet_id == wallet_id))
    for t in txs:
        out.txs[t.txid] = StoredTx(
            t.txid,
            t.status,
            t.height,
            t.block_hash,
            t.block_time,
            t.first_seen,
            parse(t.txid, t.io, t.weight, t.fee),
            t.replaced_by,
            t.received,
            t.sent,
            t.net_amount,
            t.direction,
        )
    state = await s.get(WalletSyncState, wallet_id)
    if state is not None and state.user_id == user_id:
        out.tip_height, out.tip_hash = state.tip_height, state.tip_hash
    return out


async def _bulk_insert(s: Tx, rows: list[Any]) -> None:
    """Insert many new model objects in one executemany (much faster than the unit of work)."""
    if not rows:
        return
    table = type(rows[0]).__table__
    cols = [c.name for c in table.columns]
    await s.exec(sa.insert(table), params=[{c: getattr(r, c) for c in cols} for r in rows])


async def save_result(
    s: Tx,
    user_id: str,
    wallet_id: str,
    result: SyncResult,
    *,
    backend: str,
    addresses_scanned: int,
) -> datetime:
    """Write the wallet's new view as a difference from what is stored (one transaction).

    Returns the sync state's new ``updated_at``, a version stamp of what was written."""
    now = datetime.now(UTC)
    if not result.rebuilt:
        state = await s.get(WalletSyncState, wallet_id)
        if state is not None and state.user_id == user_id:
            state.status, state.phase, state.last_error = "SYNCED", "done", None
            state.last_synced_at = now
            state.tip_height, state.tip_hash = result.tip_height, result.tip_hash
            state.backend = backend
            state.addresses_scanned = addresses_scanned
            state.updated_at = now
            s.add(state)
        return now

    # Transactions.
    existing = {
        t.txid: t
        for t in await s.exec(select(WalletTx).where(WalletTx.user_id == user_id, WalletTx.wallet_id == wallet_id))
    }
    inserts = []
    for txid, v in result.txs.items():
        row = existing.get(txid)
        values: dict[str, Any] = {
            "status": v.status,
            "height": v.height,
            "block_hash": v.block_hash,
            "block_time": v.block_time,
            "fee": v.fee,
            "vsize": v.vsize,
            "weight": v.weight,
            "received": v.received,
            "sent": v.sent,
            "net_amount": v.net_amount,
            "direction": v.direction,
            "replaced_by": v.replaced_by,
        }
        if row is None:
            inserts.append(
                WalletTx(
                    user_id=user_id,
                    wallet_id=wallet_id,
                    txid=txid,
                    first_seen=v.first_seen,
                    updated_at=now,
                    io=v.io,
                    **values,
                )
            )
            continue
        if any(getattr(row, k) != val for k, val in values.items()) or row.io != v.io:
            for k, val in values.items():
                setattr(row, k, val)
            row.io = v.io
            row.updated_at = now
            s.add(row)
    await _bulk_insert(s, inserts)

    # Outputs.
    current = {
        (o.txid, o.vout): o
        for o in await s.exec(
            select(WalletOutput).where(WalletOutput.user_id == user_id, WalletOutput.wallet_id == wallet_id)
        )
    }
    gone = [o.id for k, o in current.items() if k not in result.outputs]
    if gone:
        await s.exec(sa.delete(WalletOutput).where(col(WalletOutput.id).in_(gone)))
    new_outputs = []
    for okey, ov in result.outputs.items():
        orow = current.get(okey)
        if orow is None:
            new_outputs.append(
                WalletOutput(
                    user_id=user_id,
                    wallet_id=wallet_id,
                    txid=ov.txid,
                    vout=ov.vout,
                    value=ov.value,
                    chain=ov.chain,
                    index=ov.index,
                    script_pubkey=ov.script_pubkey,
                    height=ov.height,
                    spent_by=ov.spent_by,
                )
            )
        elif (orow.height, orow.spent_by, orow.value) != (ov.height, ov.spent_by, ov.value):
            orow.height, orow.spent_by, orow.value = ov.height, ov.spent_by, ov.value
            s.add(orow)
    await _bulk_insert(s, new_outputs)

    # Scripts.
    scripts = {
        (r.chain, r.index): r
        for r in await s.exec(
            select(WalletScript).where(WalletScript.user_id == user_id, WalletScript.wallet_id == wallet_id)
        )
    }
    new_scripts = []
    for key, sv in result.scripts.items():
        srow = scripts.get(key)
        if srow is None:
            new_scripts.append(
                WalletScript(
                    user_id=user_id,
                    wallet_id=wallet_id,
                    chain=sv.ref.chain,
                    index=sv.ref.index,
                    scripthash=sv.ref.scripthash,
                    script_pubkey=sv.ref.script_pubkey,
                    status=sv.status,
                    tx_count=sv.tx_count,
                    received=sv.received,
                    balance=sv.balance,
                    used=sv.used,
                )
            )
        elif (srow.status, srow.tx_count, srow.received, srow.balance, srow.used) != (
            sv.status,
            sv.tx_count,
            sv.received,
            sv.balance,
            sv.used,
        ):
            srow.status, srow.tx_count, srow.received = sv.status, sv.tx_count, sv.received
            srow.balance, srow.used = sv.balance, sv.used
            s.add(srow)
    await _bulk_insert(s, new_scripts)

    # Sync state.
    state = await s.get(WalletSyncState, wallet_id)
    if state is None:
        state = WalletSyncState(wallet_id=wallet_id, user_id=user_id)
    state.status = "SYNCED"
    state.phase = "done"
    state.last_error = None
    state.last_synced_at = now
    state.tip_height, state.tip_hash = result.tip_height, result.tip_hash
    state.backend = backend
    state.confirmed, state.unconfirmed = result.confirmed, result.unconfirmed
    state.tx_count = len(result.active_txs)
    state.utxo_count = len(result.utxos)
    state.addresses_scanned = addresses_scanned
    state.txs_found = len(result.active_txs)
    state.updated_at = now
    s.add(state)
    return now
