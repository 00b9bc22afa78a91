"""The upgrade path of issue #14: a database with wallets and labels written before migration
0011 (label ``origin``) upgrades in place; the wallets read back with the same descriptors and the
same addresses, labels and frozen outputs keep their values. (The descriptors' storage form did not
change: classic wallets keep their single ``<0;1>`` line, so no data migration exists for them.)"""

from __future__ import annotations

from pathlib import Path

from app.bitcoin.networks import Network
from app.services.wallets import ImportWalletInput, Outpoint
from app.store import migrate
from app.store.db import Store
from tests.sync.test_sync import new_user, start_container

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
TXID = "ab" * 32
LABEL = '{"type":"output","ref":"' + TXID + ':1","label":"  kept  ","spendable":false}\n'


async def test_wallets_and_labels_survive_the_upgrade_to_label_origins(tmp_path: Path, database_url: str) -> None:
    unreachable = {"esplora_url": "http://127.0.0.1:9"}
    c = await start_container(tmp_path, database_url, **unreachable)
    try:
        user = await new_user(c)
        before = await c.wallets.import_wallet(
            user, ImportWalletInput(name="old", source=ZPUB, network=Network.MAINNET)
        )
        await c.wallets.import_labels(user, before.id, LABEL)
        addresses_before = [a.script_pubkey for a in (await c.wallets.addresses(user, before.id, first=40)).items]
    finally:
        await c.stop()
    # back to the schema before 0011 (the column goes; rows stay), then forward again, server stopped
    store = Store(database_url)
    try:
        await migrate.downgrade(store, "0010_lightning_channel_backup")
        assert "0011_wallet_label_origin" not in await migrate.current_revisions(store)
        await migrate.upgrade(store)
        assert await migrate.is_at_head(store)
    finally:
        await store.dispose()
    c = await start_container(tmp_path, database_url, **unreachable)  # a restarted server
    try:
        after = await c.wallets.get_wallet(user, before.id)
        assert (after.descriptor, after.receive_descriptor, after.change_descriptor) == (
            before.descriptor,
            before.receive_descriptor,
            before.change_descriptor,
        )
        assert [k.descriptor for k in after.keychains] == [k.descriptor for k in before.keychains]
        page = await c.wallets.addresses(user, before.id, first=40)
        assert [a.script_pubkey for a in page.items] == addresses_before
        assert await c.wallets.export_labels(user, before.id) == LABEL
        assert await c.wallets.frozen_outpoints(user, before.id) == frozenset({Outpoint(TXID, 1)})
    finally:
        await c.stop()
