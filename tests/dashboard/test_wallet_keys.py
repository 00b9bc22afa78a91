"""Read paths decrypt and parse a wallet's key material once per process; a rename or delete in
another process (events over Redis) drops the entry, a re-key is seen at once from the ciphertext."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from embit import bip32
from embit.networks import NETWORKS
from sqlmodel import select

import app.services.wallet_keys as wallet_keys
from app.bitcoin.multisig import CosignerSpec
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.container import Container
from app.services.wallets import ImportWalletInput, MultisigWalletInput
from app.store.models.wallets import Wallet
from tests.conftest import make_settings
from tests.support.services import REDIS_URL, require
from tests.support.signals import until


def tpub(n: int) -> str:
    root = bip32.HDKey.from_seed(hashlib.sha256(f"keys-{n}".encode()).digest())
    return str(root.derive("m/48h/1h/0h/2h").to_public().to_base58(version=NETWORKS["test"]["xpub"]))


TPUB = tpub(0)
XPUBS = [tpub(1), tpub(2)]


class Counting:
    """Counts the calls of a function it wraps."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *a: Any, **kw: Any) -> Any:
        self.calls += 1
        return self.fn(*a, **kw)


@pytest.fixture
async def two_processes(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Container, Container]]:
    """Two containers on one database and one Redis: two server processes."""
    require("redis")
    a = Container(make_settings(tmp_path / "a", database_url, redis_url=REDIS_URL))
    b = Container(make_settings(tmp_path / "b", database_url, redis_url=REDIS_URL))
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await b.stop()
        await a.stop()


async def _wallets(c: Container, user_id: str) -> list[Any]:
    return (await c.wallets.list_wallets(user_id)).items


async def test_reads_decrypt_and_parse_key_material_once(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    c = container
    user = await c.accounts.create_user("alice@example.com", "correct horse battery staple")
    single = await c.wallets.import_wallet(
        user.id, ImportWalletInput(name="Single", source=TPUB, network=Network.TESTNET, script_type=ScriptType.P2WPKH)
    )
    multi = await c.wallets.create_multisig_wallet(
        user.id,
        MultisigWalletInput(
            name="Vault",
            network=Network.TESTNET,
            threshold=2,
            cosigners=[CosignerSpec(xpub=x, fingerprint=f"{n:08x}") for n, x in enumerate(XPUBS)],
        ),
    )
    for w in (single, multi):  # as in a process that has not read them yet
        c.wallets.keys.drop(w.id)
    decrypt, parse = Counting(c.keyring.decrypt), Counting(wallet_keys.parse_watched)
    monkeypatch.setattr(c.keyring, "decrypt", decrypt)
    monkeypatch.setattr(wallet_keys, "parse_watched", parse)

    first = await _wallets(c, user.id)
    assert (decrypt.calls, parse.calls) == (3, 2)  # two descriptors, one cosigner list
    again = await _wallets(c, user.id)
    one = await c.wallets.get_wallet(user.id, multi.id)
    assert (decrypt.calls, parse.calls) == (3, 2)  # nothing decrypted or parsed again
    assert again == first and one == next(w for w in first if w.id == multi.id)
    assert {w.descriptor for w in first} == {single.descriptor, multi.descriptor}
    assert [c.name for c in one.cosigners] == [c.name for c in multi.cosigners]


@pytest.mark.redis
async def test_another_process_renaming_deleting_or_rekeying_is_seen(
    two_processes: tuple[Container, Container],
) -> None:
    a, b = two_processes
    user = await a.accounts.create_user("alice@example.com", "correct horse battery staple")
    kept = await a.wallets.import_wallet(
        user.id, ImportWalletInput(name="Kept", source=TPUB, network=Network.TESTNET, script_type=ScriptType.P2WPKH)
    )
    gone = await a.wallets.create_multisig_wallet(
        user.id,
        MultisigWalletInput(
            name="Gone",
            network=Network.TESTNET,
            threshold=2,
            cosigners=[CosignerSpec(xpub=x, fingerprint=f"{n:08x}") for n, x in enumerate(XPUBS)],
        ),
    )
    await _wallets(a, user.id)
    assert kept.id in a.wallets.keys and gone.id in a.wallets.keys

    await b.wallets.rename_wallet(user.id, kept.id, "Renamed")
    await until(lambda: kept.id not in a.wallets.keys, "process A dropped the renamed wallet's keys")
    assert [w.name for w in await _wallets(a, user.id)] == ["Renamed", "Gone"]
    assert kept.id in a.wallets.keys

    await b.wallets.delete_wallet(user.id, gone.id)
    await until(lambda: gone.id not in a.wallets.keys, "process A dropped the deleted wallet's keys")
    assert [w.id for w in await _wallets(a, user.id)] == [kept.id]

    # A re-key (what `mbf secrets rotate` does to every ciphertext) needs no event: A's entry no
    # longer matches the stored ciphertext, so A decrypts again, and shows the same descriptor.
    async with b.store.write() as s:
        row = (await s.exec(select(Wallet).where(Wallet.id == kept.id))).one()
        row.descriptor_enc = b.keyring.encrypt(b.keyring.decrypt(row.descriptor_enc, aad=user.id), aad=user.id)
        s.add(row)
    before = a.wallets.keys.decrypted
    assert (await a.wallets.get_wallet(user.id, kept.id)).descriptor == kept.descriptor
    assert a.wallets.keys.decrypted == before + 1
