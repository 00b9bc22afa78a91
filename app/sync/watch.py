"""What makes a wallet sync without a user asking: the periodic scheduler, and live changes from
the chain server: pushed where the backend can (Electrum script and tip notifications), polled
where it cannot (Esplora: one :class:`app.sync.poll.ChainPoller` per server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from app.chain.backend import BlockRef, ChainBackend
from app.errors import UpstreamUnavailable
from app.sync.model import WalletSource
from app.sync.poll import ChainPoller

log = structlog.get_logger(__name__)

# (user_id, wallet_id) -> None
WalletCallback = Callable[[str, str], Awaitable[None]]
# (task name, factory): run under the container's supervisor, restarted if it fails
Spawn = Callable[[str, Callable[[], Awaitable[None]]], object]


class SyncWatch:
    """Follows the wallets' scripts and the chain tips; calls back into the job runner.

    ``request`` starts an ``auto`` sync (never raises); ``changed`` is told that a watched
    script changed (the runner decides whether to start a sync or run one more after the
    current); ``prune`` deletes old finished jobs after each scheduler round.
    """

    def __init__(
        self,
        wallets: WalletSource,
        interval_s: float,
        *,
        request: WalletCallback,
        changed: WalletCallback,
        prune: Callable[[], Awaitable[int]],
        spawn: Spawn | None = None,
        poll_interval_s: float = 10.0,
    ) -> None:
        self.wallets = wallets
        self.interval_s = interval_s
        self.spawn = spawn
        self.poll_interval_s = poll_interval_s
        self.pollers: dict[str, ChainPoller] = {}  # network -> poller of a backend without push
        self.request = request
        self.changed = changed
        self.prune = prune
        self._watch: dict[str, set[tuple[str, str]]] = {}  # scripthash -> {(user, wallet)}
        self._tip_watch: set[str] = set()  # networks whose tip we follow

    @property
    def watched_scripts(self) -> int:
        return len(self._watch)

    async def scheduler(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            for user_id, wallet_id in await self.wallets.all_wallets():
                await self.request(user_id, wallet_id)
            await self.prune()

    async def watch_wallet(self, backend: ChainBackend, user_id: str, wallet_id: str, scripthashes: list[str]) -> None:
        """Follow the wallet's scripts after a sync: subscribe where the backend pushes, else make sure
        its server is polled. Either way a change to one of them resyncs the wallet."""
        new = [sh for sh in scripthashes if (user_id, wallet_id) not in self._watch.get(sh, set())]
        for sh in scripthashes:
            self._watch.setdefault(sh, set()).add((user_id, wallet_id))
        if not backend.supports_subscriptions:
            self._poll(backend)
            return
        try:
            if new:
                await backend.subscribe_scripthashes(new, self._on_scripthash)
            if backend.network not in self._tip_watch:
                self._tip_watch.add(backend.network)
                network = backend.network

                async def on_tip(ref: BlockRef) -> None:
                    await self._on_tip(network, ref)

                await backend.subscribe_tip(on_tip)
        except UpstreamUnavailable as exc:
            log.warning("sync_subscribe_failed", wallet=wallet_id, error=exc.message)

    def _poll(self, backend: ChainBackend) -> None:
        network = backend.network
        if self.spawn is None or network in self.pollers:
            return

        async def on_tip() -> None:
            await self._on_tip(network, None)

        async def on_script(scripthash: str) -> None:
            await self._on_scripthash(scripthash, None)

        poller = ChainPoller(backend, self.poll_interval_s, self._watch, on_tip=on_tip, on_script=on_script)
        self.pollers[network] = poller
        self.spawn(f"sync:poll:{network}", poller.run)

    def unwatch(self, wallet_id: str) -> None:
        for subs in self._watch.values():
            for pair in [p for p in subs if p[1] == wallet_id]:
                subs.discard(pair)

    async def _on_scripthash(self, scripthash: str, status: str | None) -> None:
        for user_id, wallet_id in list(self._watch.get(scripthash, ())):
            await self.changed(user_id, wallet_id)

    async def _on_tip(self, network: str, ref: BlockRef | None) -> None:
        """A new block: confirmations changed; wallets with unconfirmed txs may have new ones."""
        wallets = {pair for subs in self._watch.values() for pair in subs}
        for user_id, wallet_id in wallets:
            with contextlib.suppress(Exception):
                target = await self.wallets.sync_target(user_id, wallet_id)
                if target.network == network:
                    await self.request(user_id, wallet_id)
