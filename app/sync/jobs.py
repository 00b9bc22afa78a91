"""Request: the sync service. One background job per wallet, resume after restart.

- ``request_sync`` records a job (``sync_jobs``) and runs it in the container's supervised task
  group under the name ``sync:<wallet id>``; while a wallet has an active job, a second request
  returns that job.
- A job reads the wallet's stored state (:mod:`app.sync.persist`), scans the backend
  (:mod:`app.sync.scanner`), then writes the new view, the job's outcome and the wallet's sync
  state in ONE transaction; events are published after the commit.
- An unreachable backend fails the job with a message and sets the wallet's ``syncStatus`` to
  ``ERROR`` with ``lastError``; the wallet itself is untouched.
- Jobs found QUEUED/RUNNING at start-up (a crash or restart) are run again: a sync is idempotent
  and its results were either fully written or not at all.
- The scheduler and Electrum notifications live in :mod:`app.sync.watch`; the read side in
  :mod:`app.sync.queries` (the service is also the area's read API).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from sqlmodel import col, select

from app.chain.factory import ChainBackends
from app.config import Settings
from app.errors import BadInput, DomainError, NotFound, UpstreamUnavailable
from app.events.envelope import Event
from app.events.hub import EventHub
from app.observability.metrics import sync_outcome
from app.store.db import Store, background_context
from app.store.models.chain import (
    JOB_ACTIVE,
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    SyncJob,
    WalletScript,
    WalletSyncState,
)
from app.sync.model import MempoolSnapshot, Outcome, ScanProgress, StoredWallet, SyncJobView, SyncResult, WalletSource
from app.sync.persist import load_stored, save_result
from app.sync.queries import SyncQueries, job_view
from app.sync.scanner import WalletScanner
from app.sync.view import next_stored
from app.sync.watch import SyncWatch
from app.tasks import Supervisor

log = structlog.get_logger(__name__)

PROGRESS_EVERY_S = 0.5


def is_historical(height: int | None, synced_to: int | None) -> bool:
    """A transaction is news only once the wallet has been synced, and only when it reached the
    chain after that sync's tip (or is unconfirmed): the first sync's history, and older
    transactions a later scan discovers (a wider gap limit, a full rescan), are ``historical``,
    so a frontend's "you received bitcoin" fires for payments, not for an import."""
    if synced_to is None:
        return True
    return height is not None and 0 < height <= synced_to


def _describe(exc: DomainError) -> str:
    """The failure as the wallet's ``syncError`` shows it: the message, then what to do."""
    return f"{exc.message} {exc.hint}" if exc.hint else exc.message


class RevealHook(Protocol):
    async def __call__(self, s: Any, user_id: str, wallet_id: str, used: dict[int, int]) -> None:
        """Inside the sync's write transaction: the highest used index per chain."""


class SyncService(SyncQueries):
    def __init__(
        self,
        store: Store,
        backends: ChainBackends,
        wallets: WalletSource,
        supervisor: Supervisor,
        settings: Settings,
        hub: EventHub,
        *,
        reveal: RevealHook | None = None,
    ) -> None:
        super().__init__(store)
        self.backends = backends
        self.wallets = wallets
        self.supervisor = supervisor
        self.settings = settings
        self.hub = hub
        self.reveal = reveal
        self._again: set[str] = set()  # wallets whose scripts changed while a job was running
        self._pending: set[str] = set()  # wallets with a job queued since their worker last looked
        self.watch = SyncWatch(
            wallets,
            settings.sync_interval_s,
            request=self._request_quietly,
            changed=self._script_changed,
            prune=self.prune_jobs,
            spawn=lambda name, factory: supervisor.spawn(name, factory, restart=True),
            poll_interval_s=settings.tip_poll_interval_s,
        )
        self._mempool: dict[str, MempoolSnapshot] = {}  # wallet_id -> last Esplora mempool snapshot
        # wallet_id -> (sync state's updated_at, the stored state it stands for)
        self._stored_cache: dict[str, tuple[datetime, StoredWallet]] = {}
        self.last_result: dict[str, SyncResult] = {}  # wallet_id -> SyncResult (benches, tests)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        async with self.store.read() as s:
            active = (await s.exec(select(SyncJob).where(col(SyncJob.status).in_(JOB_ACTIVE)))).all()
        for job in active:
            log.info("sync_job_resumed", job=job.id, wallet=job.wallet_id)
            self._spawn(job.id, job.user_id, job.wallet_id)
        self.supervisor.spawn("sync:scheduler", self.watch.scheduler, restart=True)
        self.supervisor.spawn("sync:rewatch", self._rewatch)

    async def _rewatch(self) -> None:
        """After a restart, follow the scripts of every wallet synced before (subscriptions or the
        server's poller), so payments show live again without waiting for each wallet's next sync."""
        async with self.store.read() as s:
            rows = (await s.exec(select(WalletScript.user_id, WalletScript.wallet_id, WalletScript.scripthash))).all()
        by_wallet: dict[tuple[str, str], list[str]] = {}
        for user_id, wallet_id, scripthash in rows:
            by_wallet.setdefault((user_id, wallet_id), []).append(scripthash)
        for (user_id, wallet_id), scripthashes in by_wallet.items():
            try:
                target = await self.wallets.sync_target(user_id, wallet_id)
                backend = await self.backends.get(target.network)
            except (NotFound, UpstreamUnavailable):
                continue
            await self.watch.watch_wallet(backend, user_id, wallet_id, scripthashes)

    async def stop(self) -> None:
        """Jobs run in the supervisor, which the container stops first."""

    async def health(self) -> dict[str, Any]:
        async with self.store.read() as s:
            running = (
                await s.exec(select(sa.func.count()).select_from(SyncJob).where(col(SyncJob.status).in_(JOB_ACTIVE)))
            ).one()
        return {"status": "ok", "activeJobs": int(running), "watchedScripts": self.watch.watched_scripts}

    # -- jobs -----------------------------------------------------------------------------------

    async def request_sync(self, user_id: str, wallet_id: str, *, kind: str = "incremental") -> SyncJobView:
        """Start a sync of the wallet, or return the one already queued/running."""
        await self.wallets.sync_target(user_id, wallet_id)  # NotFound for others' wallets
        async with self.store.write() as s:
            job = (
                await s.exec(
                    select(SyncJob)
                    .where(
                        SyncJob.user_id == user_id,
                        SyncJob.wallet_id == wallet_id,
                        col(SyncJob.status).in_(JOB_ACTIVE),
                    )
                    .order_by(col(SyncJob.created_at).desc())
                )
            ).first()
            if job is not None:
                return job_view(job)
            job = SyncJob(user_id=user_id, wallet_id=wallet_id, kind=kind, status=JOB_QUEUED)
            s.add(job)
        self._spawn(job.id, user_id, wallet_id)
        return job_view(job)

    def _spawn(self, job_id: str, user_id: str, wallet_id: str) -> None:
        """Make sure the wallet's worker runs; it takes queued jobs one after the other.

        A job queued while the worker is finishing the previous one is not lost: ``_pending``
        makes the worker look again before it exits (no await between that check and exit).
        """
        self._pending.add(wallet_id)
        self.supervisor.spawn(f"sync:{wallet_id}", lambda: self._worker(user_id, wallet_id))

    async def _worker(self, user_id: str, wallet_id: str) -> None:
        attempted: set[str] = set()
        while True:
            self._pending.discard(wallet_id)
            async with self.store.read() as s:
                job = (
                    await s.exec(
                        select(SyncJob)
                        .where(SyncJob.wallet_id == wallet_id, col(SyncJob.status).in_(JOB_ACTIVE))
                        .order_by(col(SyncJob.created_at))
                    )
                ).first()
            if job is None or job.id in attempted:
                if wallet_id in self._pending:
                    continue
                return
            attempted.add(job.id)
            await self._run_job(job.id, job.user_id, wallet_id)

    async def get_job(self, user_id: str, job_id: str) -> SyncJobView:
        async with self.store.read() as s:
            job = await s.get(SyncJob, job_id)
        if job is None or job.user_id != user_id:
            raise NotFound("No such sync job.", field="id")
        return job_view(job)

    async def wait(self, user_id: str, job_id: str, timeout: float = 300.0) -> SyncJobView:
        """Wait for a job to finish (CLI, tests)."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get_job(user_id, job_id)
            if job.status not in JOB_ACTIVE or time.monotonic() > deadline:
                return job
            await asyncio.sleep(0.05)

    async def sync_now(self, user_id: str, wallet_id: str, *, full: bool = False) -> SyncJobView:
        """Request a sync and wait for one that started after this call.

        A job already running may have read the chain before the change the caller wants to see
        (``request_sync`` returns it rather than starting a second one), so then one more runs.
        """
        requested = datetime.now(UTC)
        kind = "full" if full else "incremental"
        job = await self.wait(user_id, (await self.request_sync(user_id, wallet_id, kind=kind)).id)
        if job.started_at is not None and job.started_at < requested:
            job = await self.wait(user_id, (await self.request_sync(user_id, wallet_id, kind=kind)).id)
        return job

    async def _run_job(self, job_id: str, user_id: str, wallet_id: str) -> None:
        now = datetime.now(UTC)
        async with self.store.write() as s:
            job = await s.get(SyncJob, job_id)
            if job is None or job.status not in JOB_ACTIVE:
                return
            job.status, job.started_at, job.phase = JOB_RUNNING, now, "starting"
            s.add(job)
            full, kind = job.kind == "full", job.kind
            state = await s.get(WalletSyncState, wallet_id)
            if state is None:
                state = WalletSyncState(wallet_id=wallet_id, user_id=user_id)
            state.status, state.phase = "SYNCING", "starting"  # updated_at: only when results are written
            s.add(state)
        self._again.discard(wallet_id)
        try:
            target = await self.wallets.sync_target(user_id, wallet_id)
            backend = await self.backends.get(target.network)
            stored = await self._stored(user_id, wallet_id)
            last_sent = 0.0

            async def progress(p: ScanProgress) -> None:
                nonlocal last_sent
                if p.phase == "scanning" and time.monotonic() - last_sent < PROGRESS_EVERY_S:
                    return
                last_sent = time.monotonic()
                await self._record_progress(job_id, wallet_id, p)
                await self._publish(
                    "walletSyncProgress",
                    user_id,
                    wallet_id,
                    {
                        "walletId": wallet_id,
                        "jobId": job_id,
                        "phase": p.phase,
                        "addressesScanned": p.addresses_scanned,
                        "txsFound": p.txs_found,
                    },
                )

            async def rescan(fraction: float) -> None:
                nonlocal last_sent
                if time.monotonic() - last_sent < PROGRESS_EVERY_S:
                    return
                last_sent = time.monotonic()
                await self._record_progress(job_id, wallet_id, ScanProgress("rescanning", 0, 0))
                await self._publish(
                    "walletSyncProgress",
                    user_id,
                    wallet_id,
                    {"walletId": wallet_id, "jobId": job_id, "phase": "rescanning", "rescanProgress": fraction},
                )

            bind = getattr(backend, "bind", None)
            if bind is not None:
                # Backends that hold wallets themselves (Bitcoin Core): import it first, then
                # scan through the wallet's own view.
                backend = await bind(
                    wallet_id,
                    getattr(target, "descriptors", ("", "")),
                    birthday=getattr(target, "birthday", None),
                    progress=rescan,
                )
            scanner = WalletScanner(
                backend,
                target.derive,
                target.gap_limit,
                stored,
                full=full,
                progress=progress,
                batch_size=self.settings.chain_concurrency * 4,
                mempool=None if full else self._mempool.get(wallet_id),
                fresh=kind != "auto",  # a user's explicit sync asks the server, not a cache
                chains=target.chains,
            )
            result = await scanner.run()
        except (UpstreamUnavailable, NotFound, BadInput) as exc:
            await self._fail(job_id, user_id, wallet_id, _describe(exc))
            return
        except asyncio.CancelledError:
            raise  # shutdown: the job stays RUNNING and is resumed at the next start
        except Exception as exc:
            log.exception("sync_failed", wallet=wallet_id)
            await self._fail(job_id, user_id, wallet_id, f"internal error: {type(exc).__name__}")
            return

        self.last_result[wallet_id] = result
        if result.mempool is not None:
            self._mempool[wallet_id] = result.mempool
        used: dict[int, int] = {}
        for (c, i), sv in result.scripts.items():
            if sv.used:
                used[c] = max(used.get(c, -1), i)
        try:
            await self._save(job_id, user_id, wallet_id, result, backend.name, scanner.scanned, used, stored)
        except Exception as exc:  # e.g. the wallet was deleted while it synced
            log.warning("sync_save_failed", wallet=wallet_id, error=type(exc).__name__)
            await self._fail(job_id, user_id, wallet_id, f"could not store the results: {type(exc).__name__}")
            return
        await self.watch.watch_wallet(backend, user_id, wallet_id, result.scripthashes)
        if wallet_id in self._again:
            self._again.discard(wallet_id)
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self._request_quietly(user_id, wallet_id)), context=background_context()
            )

    async def _record_progress(self, job_id: str, wallet_id: str, p: ScanProgress) -> None:
        """The figures the stream is about to carry, also on the job and the wallet's sync state, so
        that ``wallet.syncProgress`` (any process, any replica) moves with the stream. Only at the
        stream's own pace (each phase, at most every ``PROGRESS_EVERY_S`` while scanning); the
        state's ``updated_at`` is left alone (it stamps the stored results, see ``_stored``)."""
        figures = {"phase": p.phase, "addresses_scanned": p.addresses_scanned, "txs_found": p.txs_found}
        try:
            async with self.store.write() as s:
                await s.exec(sa.update(SyncJob).where(col(SyncJob.id) == job_id).values(**figures))
                await s.exec(
                    sa.update(WalletSyncState)
                    .where(col(WalletSyncState.wallet_id) == wallet_id, col(WalletSyncState.status) == "SYNCING")
                    .values(**figures)
                )
        except Exception as exc:  # progress is informative: never fail a sync over it
            log.warning("sync_progress_not_recorded", wallet=wallet_id, error=type(exc).__name__)

    async def _stored(self, user_id: str, wallet_id: str) -> StoredWallet:
        """The wallet's stored sync state: from memory when the store still holds exactly what
        this process last wrote (same version stamp), else read from the store."""
        async with self.store.read() as s:
            state = await s.get(WalletSyncState, wallet_id)
            cached = self._stored_cache.get(wallet_id)
            if cached is not None and state is not None and state.updated_at == cached[0]:
                return cached[1]
            self._stored_cache.pop(wallet_id, None)
            return await load_stored(s, user_id, wallet_id)

    async def _save(
        self,
        job_id: str,
        user_id: str,
        wallet_id: str,
        result: SyncResult,
        backend: str,
        scanned: int,
        used: dict[int, int],
        stored: StoredWallet,
    ) -> None:
        """The wallet's results, the job's outcome and the reveal, in ONE transaction."""
        self._stored_cache.pop(wallet_id, None)
        async with self.store.write() as s:
            stamp = await save_result(s, user_id, wallet_id, result, backend=backend, addresses_scanned=scanned)
            if self.reveal is not None and result.rebuilt:
                await self.reveal(s, user_id, wallet_id, used)
            job = await s.get(SyncJob, job_id)
            if job is not None:
                job.status, job.phase = JOB_SUCCEEDED, "done"
                job.addresses_scanned = scanned
                job.txs_found = len(result.active_txs)
                job.finished_at = datetime.now(UTC)
                s.add(job)
                s.on_commit(sync_outcome(backend, "ok", job, scanned))
            synced_to = stored.tip_height if stored.tip_hash is not None else None
            s.on_commit(lambda: self._after_sync(user_id, wallet_id, job_id, result, synced_to))
        self._stored_cache[wallet_id] = (stamp, next_stored(stored, result))

    async def _after_sync(
        self, user_id: str, wallet_id: str, job_id: str, result: SyncResult, synced_to: int | None
    ) -> None:
        """Events after the commit. ``synced_to``: the tip the wallet was synced to before this
        sync (None: its first sync), which tells history from news (:func:`is_historical`)."""
        if not result.rebuilt:
            await self._publish_done(user_id, wallet_id, job_id, result)
            if result.outcome is Outcome.TIP_MOVED:  # confirmations moved
                await self._publish(
                    "walletUpdated",
                    user_id,
                    wallet_id,
                    {"walletId": wallet_id, "tipHeight": result.tip_height},
                )
            return
        for txid in result.new_txids:
            v = result.txs[txid]
            await self._publish(
                "transactionReceived",
                user_id,
                wallet_id,
                {
                    "walletId": wallet_id,
                    "txid": txid,
                    "netAmount": v.net_amount,
                    "direction": v.direction,
                    "blockHeight": v.height,
                    "historical": is_historical(v.height, synced_to),
                },
            )
        await self._publish_done(user_id, wallet_id, job_id, result)
        if result.outcome is Outcome.UPDATED or result.new_txids:
            await self._publish(
                "walletUpdated",
                user_id,
                wallet_id,
                {
                    "walletId": wallet_id,
                    "balance": {
                        "confirmed": result.confirmed,
                        "unconfirmed": result.unconfirmed,
                        "total": result.confirmed + result.unconfirmed,
                    },
                    "txCount": len(result.active_txs),
                    "tipHeight": result.tip_height,
                },
            )

    async def _publish_done(self, user_id: str, wallet_id: str, job_id: str, result: SyncResult) -> None:
        """One ``done`` per sync, after its results are committed (the scanner itself ends at ``storing``)."""
        await self._publish(
            "walletSyncProgress",
            user_id,
            wallet_id,
            {
                "walletId": wallet_id,
                "jobId": job_id,
                "phase": "done",
                "addressesScanned": len(result.scripthashes),
                "txsFound": len(result.active_txs),
            },
        )

    async def _fail(self, job_id: str, user_id: str, wallet_id: str, message: str) -> None:
        log.warning("sync_job_failed", job=job_id, wallet=wallet_id, error=message)
        try:
            await self._record_failure(job_id, user_id, wallet_id, message)
        except Exception as exc:  # the wallet is gone: nothing to record
            log.info("sync_failure_not_recorded", wallet=wallet_id, error=type(exc).__name__)

    async def _record_failure(self, job_id: str, user_id: str, wallet_id: str, message: str) -> None:
        async with self.store.write() as s:
            job = await s.get(SyncJob, job_id)
            if job is not None:
                job.status, job.error, job.finished_at = JOB_FAILED, message, datetime.now(UTC)
                s.add(job)
            state = await s.get(WalletSyncState, wallet_id)
            if state is None:
                state = WalletSyncState(wallet_id=wallet_id, user_id=user_id)
            state.status, state.last_error, state.phase = "ERROR", message, "failed"
            s.on_commit(sync_outcome(state.backend, "failed", job))
            state.updated_at = datetime.now(UTC)
            s.add(state)
            s.on_commit(
                lambda: self._publish(
                    "walletSyncProgress",
                    user_id,
                    wallet_id,
                    {"walletId": wallet_id, "jobId": job_id, "phase": "failed", "error": message},
                )
            )

    async def _publish(self, type_: str, user_id: str, wallet_id: str, payload: dict[str, Any]) -> None:
        event = Event(type=type_, user_id=user_id, subject=wallet_id, payload=payload)
        try:
            await self.hub.publish(event)
        except Exception:
            log.exception("sync_event_publish_failed", type=type_)

    async def _request_quietly(self, user_id: str, wallet_id: str) -> None:
        """Scheduler and notifications: an ``auto`` job (may rely on cached statuses)."""
        try:
            await self.request_sync(user_id, wallet_id, kind="auto")
        except NotFound:
            self.watch.unwatch(wallet_id)
        except Exception:
            log.exception("sync_request_failed", wallet=wallet_id)

    async def _script_changed(self, user_id: str, wallet_id: str) -> None:
        """A watched script changed: sync, or sync once more after the running job."""
        if self.supervisor.running(f"sync:{wallet_id}"):
            self._again.add(wallet_id)
        else:
            await self._request_quietly(user_id, wallet_id)

    # -- maintenance ----------------------------------------------------------------------------

    async def prune_jobs(self, keep_hours: float = 24.0) -> int:
        """Delete finished jobs older than ``keep_hours`` (the wallet's sync state keeps the outcome)."""
        cutoff = datetime.now(UTC) - timedelta(hours=keep_hours)
        async with self.store.write() as s:
            result = await s.exec(
                sa.delete(SyncJob).where(
                    col(SyncJob.status).in_((JOB_SUCCEEDED, JOB_FAILED)), col(SyncJob.finished_at) < cutoff
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)
