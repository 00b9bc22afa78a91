"""WalletService directly (real store, both engines where it matters): the sync interfaces and
concurrent nextReceiveAddress."""

from __future__ import annotations

import asyncio

from app.bitcoin.networks import Network
from app.container import Container
from app.services.wallets import ImportWalletInput
from tests.wallets.test_import_api import ZPUB


async def _user(c: Container, email: str = "dave@example.com") -> str:
    return str((await c.accounts.create_user(email, "correct horse battery staple")).id)


async def test_concurrent_next_receive_addresses_are_distinct(any_engine: str, container: Container) -> None:
    user = await _user(container)
    w = await container.wallets.import_wallet(user, ImportWalletInput("W", ZPUB, Network.MAINNET, gap_limit=4))
    got = await asyncio.gather(*(container.wallets.next_receive_address(user, w.id) for _ in range(10)))
    assert sorted(a.index for a in got) == list(range(10))
    assert len({a.address for a in got}) == 10


async def test_sync_target_derives_the_stored_scripts_and_covers_reserved(container: Container) -> None:
    user = await _user(container)
    w = await container.wallets.import_wallet(user, ImportWalletInput("W", ZPUB, Network.MAINNET, gap_limit=3))
    target = await container.wallets.sync_target(user, w.id)
    assert (target.network, target.gap_limit, target.wallet_id) == ("mainnet", 3, w.id)
    page = await container.wallets.addresses(user, w.id, first=100)
    stored = {(int(a.chain), a.index): a.script_pubkey for a in page.items}
    for chain in (0, 1):
        spks = target.derive(chain, 0, 3)
        assert [s.hex() for s in spks] == [stored[(chain, i)] for i in range(3)]
    # hand out 5 receive addresses: the scanned window must reach past the last one
    for _ in range(5):
        await container.wallets.next_receive_address(user, w.id)
    target = await container.wallets.sync_target(user, w.id)
    assert target.gap_limit == 3 + 5  # last reserved index 4, nothing used yet
    assert [(u, wid) for u, wid in await container.wallets.all_wallets()] == [(user, w.id)]


async def test_large_gap_limit(container: Container) -> None:
    user = await _user(container)
    w = await container.wallets.import_wallet(user, ImportWalletInput("W", ZPUB, Network.MAINNET, gap_limit=1000))
    page = await container.wallets.addresses(user, w.id, first=500)
    assert page.total == 2000
    assert page.items[0].address == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert [a.index for a in page.items] == list(range(500))
