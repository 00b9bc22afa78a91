"""A payment that changes a wallet's balance re-values the portfolios holding it (not only price ticks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.bitcoin.networks import Network
from app.container import Container
from app.dev.devchain.runner import DevChain
from app.services.wallets import ImportWalletInput
from tests.conftest import make_settings
from tests.sync.test_sync import wait_synced

pytestmark = pytest.mark.slow


async def test_payment_publishes_portfolio_value_changed(tmp_path: Path, database_url: str) -> None:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as chain:
        settings = make_settings(
            tmp_path, database_url, regtest_esplora_url=chain.esplora_url, price_providers=[], sync_interval_s=3600
        )
        c = Container(settings)
        await c.start()
        try:
            user = await c.accounts.create_user("alice@example.com", "correct horse battery staple")
            other = await c.accounts.create_user("bob@example.com", "correct horse battery staple")
            w = chain.info["wallets"][0]
            view = await c.wallets.import_wallet(
                user.id, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST)
            )
            await wait_synced(c, user.id, view.id)
            portfolio = await c.portfolios.create(user.id, "Savings", [view.id], "USD")
            before = await c.sync.balance(user.id, view.id)

            async with c.hub.subscribe(user.id, types={"portfolioValueChanged"}) as mine, c.hub.subscribe(
                other.id, types={"portfolioValueChanged"}, include_public=False
            ) as theirs:
                addr = await c.wallets.next_receive_address(user.id, view.id)
                await chain.send(addr.address, 250_000)
                assert (await c.sync.sync_now(user.id, view.id)).status == "SUCCEEDED"
                event = await asyncio.wait_for(anext(aiter(mine)), 20)
                assert event.subject == portfolio.id and event.user_id == user.id
                assert event.payload["balance"] == before.confirmed + before.unconfirmed + 250_000
                assert event.payload["currency"] == "USD" and event.payload["value"]
                with pytest.raises(TimeoutError):  # nothing leaks to another user
                    await asyncio.wait_for(anext(aiter(theirs)), 0.5)
        finally:
            await c.stop()
