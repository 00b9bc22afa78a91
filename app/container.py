"""The service container: builds every service once, starts and stops them in order.

Nothing else constructs services or clients; the ASGI lifespan and the CLI own a container
(the CLI's with ``background=False``). Components (anything with ``start``/``stop``/``health``)
are started in registration order and stopped in reverse.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from app.chain.factory import ChainBackends
from app.config import Settings
from app.events.factory import make_hub
from app.persisted_queries import PersistedQueries, read_manifest
from app.security.crypto import Keyring
from app.security.keystore import key_matches, open_keyring
from app.security.throttle import make_throttle
from app.services.accounts import AccountService
from app.services.api_keys import ApiKeyService
from app.services.audit import AuditLog
from app.services.label_facts import LabelFacts
from app.services.lightning import LightningService
from app.services.lightning_backups import LightningBackups
from app.services.lightning_macaroons import LightningMacaroons
from app.services.lightning_payments import LightningPayments
from app.services.portfolios import PortfolioService
from app.services.prices import PriceService
from app.services.reports import ReportService
from app.services.user_admin import UserAdmin
from app.services.wallets import WalletService
from app.spend.fees import FeeService
from app.spend.service import SpendService
from app.store import migrate
from app.store.db import Store
from app.sync.jobs import SyncService
from app.tasks import Supervisor

log = structlog.get_logger(__name__)


class Component(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def health(self) -> dict[str, Any]: ...


@dataclass
class _Registered:
    name: str
    component: Component
    critical: bool
    server_only: bool


class Container:
    """Owns settings, store, keyring, hub, supervisor and every service."""

    def __init__(self, settings: Settings, *, background: bool = True) -> None:
        """``background=False`` (the CLI): every service works on demand, but :meth:`start` does
        not begin what a server runs in the background: the sync scheduler and the resumption of
        interrupted sync jobs, the fee and price pollers, the LND streams, the recovery of
        reports a restart interrupted (which would fail the reports a running server is making); an
        import does not start a first sync and a sync does not re-value portfolios (a server does
        both: its scheduler syncs new wallets)."""
        self.settings = settings
        self.background = background
        self.started_at = time.time()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.effective_database_url)
        self.keyring = Keyring.from_settings(settings)
        self.supervisor = Supervisor()
        self._components: list[_Registered] = []
        self._started: list[_Registered] = []
        self.hub = make_hub(settings, self.store)  # events: started first, stopped last
        self.register("events", self.hub)

        # Services, in dependency order.
        self.throttle = make_throttle(settings.effective_redis_url, settings.throttle_redis_prefix)
        self.register("throttle", self.throttle)
        self.accounts = AccountService(self.store, self.keyring, settings, hub=self.hub, throttle=self.throttle)
        self.register("sessionTouches", self.accounts.touches)  # its stop writes the pending stamps
        self.api_keys = ApiKeyService(self.store, self.accounts)
        # Documents known by hash (APQ, and the allow-list of MBF_PERSISTED_QUERIES=only).
        self.persisted_queries = PersistedQueries(
            settings.persisted_queries, read_manifest(settings.effective_persisted_queries_file)
        )
        self.audit = AuditLog(self.store)
        self.wallets = WalletService(self.store, self.keyring, settings, self.hub)
        self.register("wallets", self.wallets)
        self.chain = ChainBackends(settings)  # chain servers per network, created on first use
        self.register("chain", self.chain, server_only=True)  # its start warns about public servers
        self.sync = SyncService(
            self.store, self.chain, self.wallets, self.supervisor, settings, self.hub, reveal=self.wallets.reveal
        )
        if background:  # imports start a first sync
            self.wallets.connect_sync(self.sync.request_sync)
        self.register("sync", self.sync, server_only=True)
        self.fees = FeeService(self.chain.get, cache_s=settings.fee_cache_s, publish=self._publish_fees)
        self.fees.networks = lambda: list(self.chain.active())
        self.register("fees", self.fees, server_only=True)
        self.spend = SpendService(
            self.store, self.wallets, self.sync, self.chain, self.fees, output_order=settings.spend_output_order
        )
        self.lightning = LightningService(self.store, self.keyring, self.hub, settings)
        self.register("lightning", self.lightning, server_only=True)
        self.lightning_payments = LightningPayments(self.lightning, self.hub, self.supervisor)
        self.lightning_backups = LightningBackups(self.lightning, self.store, self.keyring, self.hub)
        self.lightning_macaroons = LightningMacaroons(self.lightning, self.store, self.keyring)
        self.prices = PriceService(self.store, self.hub, settings)
        self.register("prices", self.prices, server_only=True)
        self.wallets.connect_label_facts(LabelFacts(self.sync, self.prices))  # BIP-329 export data fields
        self.portfolios = PortfolioService(
            self.store,
            self.hub,
            self.prices,
            settings,
            supervisor=self.supervisor,
            wallets=self.wallets,
            sync=self.sync,
            fee_rate=self.fees.cached_rate,  # mainnet, one hour: the spending area's estimates (10 sat/vB until known)
        )
        # a price moved (the poller): re-value portfolios, awaited by the poll; prices never import portfolios
        self.prices.connect_valuation(self.portfolios.base_currencies, self.portfolios.revalue)
        if background:  # a balance moved (a walletUpdated this process published): re-value portfolios
            self.hub.fanout.watch(self.portfolios.on_wallet_event, own_only=True)
        self.reports = ReportService(self.store, self.hub, self.portfolios, settings, accounts=self.accounts)
        self.register("reports", self.reports, server_only=True)
        self.user_admin = UserAdmin(self.store, self.accounts, self.reports.root)  # `mbf user` commands

    async def _publish_fees(self, network: str, payload: dict[str, Any]) -> None:
        from app.events.envelope import Event

        await self.hub.publish(Event(type="feeEstimatesUpdated", user_id=None, subject=network, payload=payload))

    # -- lifecycle ------------------------------------------------------------------------------

    def register(self, name: str, component: Component, *, critical: bool = False, server_only: bool = False) -> None:
        """``critical`` components make /readyz fail when unhealthy; others only degrade it.
        ``server_only``: its ``start`` is a server's (background work, recovery, start-up
        warnings), left out by ``background=False``; its ``stop`` still runs (it ends what the
        component did on demand, such as closing chain clients)."""
        self._components.append(_Registered(name, component, critical, server_only))

    async def start(self, *, migrate_db: bool = True) -> None:
        if migrate_db:
            await migrate.upgrade(self.store)
        await open_keyring(self.store, self.keyring)  # a wrong secret key stops start-up here
        for reg in self._components:
            if self.background or not reg.server_only:
                log.info("component_starting", component=reg.name)
                await reg.component.start()
            self._started.append(reg)

    async def stop(self) -> None:
        await self.supervisor.stop()
        for reg in reversed(self._started):
            try:
                await reg.component.stop()
            except Exception:
                log.exception("component_stop_failed", component=reg.name)
        self._started.clear()
        await self.store.dispose()

    async def __aenter__(self) -> Container:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- health -----------------------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Per-component status for /readyz; ready means the database is reachable and at head."""
        report: dict[str, Any] = {}
        ready = True
        try:
            await asyncio.wait_for(self.store.ping(), timeout=3)
            at_head = await asyncio.wait_for(migrate.is_at_head(self.store), timeout=3)
            report["database"] = {
                "status": "ok" if at_head else "migrations_pending",
                "engine": "sqlite" if self.store.is_sqlite else "postgresql",
            }
            ready = ready and at_head
            if at_head:  # a rotation by another process leaves this server unable to read the data
                key_ok = await asyncio.wait_for(key_matches(self.store, self.keyring), timeout=3)
                report["secretKey"] = {"status": "ok" if key_ok else "key_mismatch"}
                ready = ready and key_ok
        except Exception as exc:
            report["database"] = {"status": "unavailable", "error": type(exc).__name__}
            ready = False
        for reg in self._components:
            try:
                status = await asyncio.wait_for(reg.component.health(), timeout=3)
            except Exception as exc:
                status = {"status": "unavailable", "error": type(exc).__name__}
            report[reg.name] = status
            if reg.critical and status.get("status") not in ("ok", "degraded"):
                ready = False
        return ready, report
