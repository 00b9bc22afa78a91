"""Live delivery from chain servers that cannot push (Esplora's REST API): a poller per server.

Every ``MBF_TIP_POLL_INTERVAL_S`` (default 10 s) each polled server gets:

- **one tip request** (``GET /blocks/tip/hash``): a new block resyncs the wallets watched on that
  network (confirmations, payments mined without passing through our mempool view);
- **a mempool check of the watched scripts**: the server's mempool txids are compared with the
  previous round's, and only the transactions that entered since are fetched and matched against
  the scripts of every watched wallet (outputs paying them, inputs spending from them). A hit
  resyncs just the wallets concerned (the sync's own mempool fast path then asks only for the
  scripts touched).

The cost is per server, not per wallet: two tip/mempool requests plus one request per new mempool
transaction, whatever the number of wallets and scripts. Above ``MEMPOOL_LIMIT`` transactions
(``EsploraBackend.mempool_txids`` answers None) or ``MAX_NEW`` new ones per round, the mempool check
is skipped for that round and payments show at the next block instead (docs/frontend.md).

Backends that push (Electrum's subscriptions, a node's ZMQ) never get a poller: the watcher in
:mod:`app.sync.watch` subscribes instead, keyed on ``ChainBackend.supports_subscriptions``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Container
from typing import Any

import structlog

from app.chain.backend import ChainBackend, scripthash_of
from app.errors import UpstreamUnavailable

log = structlog.get_logger(__name__)

MAX_NEW = 2_000  # new mempool transactions fetched per round at most


class ChainPoller:
    """Polls one server; calls ``on_tip(network)`` on a new tip and ``on_script(scripthash)`` for
    each watched script a new mempool transaction touches."""

    def __init__(
        self,
        backend: ChainBackend,
        interval_s: float,
        watched: Container[str],
        *,
        on_tip: Callable[[], Awaitable[None]],
        on_script: Callable[[str], Awaitable[None]],
    ) -> None:
        self.backend = backend
        self.interval_s = interval_s
        self.watched = watched
        self.on_tip = on_tip
        self.on_script = on_script
        self.tip: str | None = None
        self.mempool: frozenset[str] | None = None
        self.rounds = 0

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except UpstreamUnavailable as exc:
                log.info("chain_poll_failed", server=self.backend.url, error=exc.message)
            await asyncio.sleep(self.interval_s)

    async def poll_once(self) -> None:
        """One round. The first only takes the baseline (the wallets' syncs have just read the chain)."""
        self.rounds += 1
        tip = await self._tip_hash()
        moved = self.tip is not None and tip != self.tip
        self.tip = tip
        if moved:
            await self.on_tip()
        probe: Any = getattr(self.backend, "mempool_txids", None)
        txids: frozenset[str] | None = await probe() if probe is not None else None
        before, self.mempool = self.mempool, txids
        if txids is None or before is None:
            return
        added = txids - before
        if not added:
            return
        if len(added) > MAX_NEW:
            log.info("chain_poll_mempool_skipped", server=self.backend.url, new=len(added))
            return
        hits: set[str] = set()
        for tx in (await self.backend.transactions(sorted(added))).values():
            scripts = [o.script_pubkey for o in tx.outputs] + [i.script_pubkey for i in tx.inputs if i.script_pubkey]
            for spk in scripts:
                sh = scripthash_of(bytes.fromhex(spk))
                if sh in self.watched:
                    hits.add(sh)
        for sh in sorted(hits):
            await self.on_script(sh)

    async def _tip_hash(self) -> str:
        """One request where the backend offers it (Esplora: ``/blocks/tip/hash``)."""
        probe: Any = getattr(self.backend, "tip_hash", None)
        if probe is not None:
            return str(await probe())
        return (await self.backend.tip()).hash
