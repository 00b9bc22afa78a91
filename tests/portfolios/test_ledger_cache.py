"""The portfolios' cached per-wallet ledgers equal a full re-read after a sync adds transactions and
after a reorg removes one, and catch up by reading only the rows the sync wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.analytics.costbasis import WalletMove
from app.bitcoin.networks import Network
from app.container import Container
from app.dev.devchain.runner import DevChain
from app.services.wallets import ImportWalletInput
from tests.conftest import make_settings
from tests.sync.test_sync import wait_synced

pytestmark = pytest.mark.slow


async def full_read(c: Container, user_id: str) -> list[WalletMove]:
    """The ledger as the portfolios built it before the cache: every row read again."""
    return sorted(await c.sync.ledger(user_id), key=lambda t: (t.day, t.txid))


async def test_cached_ledgers_catch_up_with_syncs_and_reorgs(
    tmp_path: Path, any_engine: str, database_url: str
) -> None:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as chain:
        settings = make_settings(
            tmp_path, database_url, regtest_esplora_url=chain.esplora_url, price_providers=[], sync_interval_s=3600
        )
        c = Container(settings)
        await c.start()
        try:
            user = await c.accounts.create_user("alice@example.com", "correct horse battery staple")
            ids = []
            for w in chain.info["wallets"][:2]:
                view = await c.wallets.import_wallet(
                    user.id, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST)
                )
                await wait_synced(c, user.id, view.id)
                ids.append(view.id)
            cache = c.portfolios.ledgers

            first = await c.portfolios.load(user.id, "all")
            assert first.txs == await full_read(c, user.id) and len(first.txs) > 10
            history = cache.rows_read
            assert history >= len(first.txs)
            assert (await c.portfolios.load(user.id, "all")).txs == first.txs
            assert cache.rows_read == history  # nothing changed: nothing read

            # A payment mined and synced: only what the sync wrote is read.
            address = (await c.wallets.next_receive_address(user.id, ids[0])).address
            paid = await chain.send(address, 250_000)
            await chain.mine()
            assert (await c.sync.sync_now(user.id, ids[0])).status == "SUCCEEDED"
            after_pay = await c.portfolios.load(user.id, "all")
            assert after_pay.txs == await full_read(c, user.id)
            assert paid in {t.txid for t in after_pay.txs}
            assert cache.rows_read - history < 5  # the new transaction (and any it touched)

            # A payment replaced (RBF) while unconfirmed leaves the ledger; its replacement enters.
            pending = await chain.send(address, 120_000)
            assert (await c.sync.sync_now(user.id, ids[0])).status == "SUCCEEDED"
            assert pending in {t.txid for t in (await c.portfolios.load(user.id, "all")).txs}
            bumped = await chain.replace(pending)
            assert (await c.sync.sync_now(user.id, ids[0])).status == "SUCCEEDED"
            after_bump = await c.portfolios.load(user.id, "all")
            assert after_bump.txs == await full_read(c, user.id)
            assert bumped in {t.txid for t in after_bump.txs} and pending not in {t.txid for t in after_bump.txs}

            # A reorg re-mines the last blocks at other heights and times (and drops a payment).
            await chain.reorg(depth=3, drop=True)
            for wallet_id in ids:
                assert (await c.sync.sync_now(user.id, wallet_id)).status == "SUCCEEDED"
            after_reorg = await c.portfolios.load(user.id, "all")
            assert after_reorg.txs == await full_read(c, user.id)

            # The analyses from the cached ledger are those from a full read.
            for method in ("FIFO", "HIFO"):
                cached = await c.portfolios.analyse(user.id, "all", "ALL", method, data=after_reorg)
                fresh_data = await c.portfolios.load(user.id, "all")
                fresh_data.txs = await full_read(c, user.id)
                fresh = await c.portfolios.analyse(user.id, "all", "ALL", method, data=fresh_data)
                assert cached.result.cost_basis == fresh.result.cost_basis
                assert cached.value_points() == fresh.value_points()

            # A deleted wallet's ledger goes with it.
            await c.wallets.delete_wallet(user.id, ids[1])
            assert (await c.portfolios.load(user.id, "all")).txs == await full_read(c, user.id)
        finally:
            await c.stop()
