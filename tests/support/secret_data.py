"""Seed one user with every kind of encrypted data, and check all of it still decrypts.

Used by the key-rotation, key-check and backup tests: a wallet (descriptor), a multisig wallet
(cosigner list), BIP-329 labels with an ``xpub`` record, a TOTP seed and an LND node
(certificate and macaroon).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import select

from app.bitcoin.multisig import CosignerSpec
from app.bitcoin.networks import Network
from app.container import Container
from app.dev.devchain.tlscert import generate_cert
from app.errors import Conflict
from app.lightning import macaroon as mac
from app.lightning.permissions import READONLY_OPS
from app.services.wallets import ImportWalletInput, MultisigWalletInput
from app.store.models.accounts import User
from app.store.models.lightning import LightningNode

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
ACCOUNT84 = (
    "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
)
MS_KEYS = [
    "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
    "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
    "xpub6FHa3pjLCk84NdrhviETPPFMg3w1d1t71WLZ271zk58J2PinjjKJZNYSSEAin6qqcnU9fzDM4G1V26PGiwndJqPy56bNVPQ7r6EhFJA8wqc",
]
TXID = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
MACAROON_HEX = mac.mint(b"r" * 32, READONLY_OPS, nonce=b"n" * 16).hex()  # a real (read-only) LND macaroon
TLS_PEM = generate_cert()[0].decode()  # a real certificate: the lightning service parses it at start
LABELS = (
    f'{{"type":"tx","ref":"{TXID}","label":"rent"}}\n'
    '{"type":"addr","ref":"bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu","label":"first receive"}\n'
    f'{{"type":"xpub","ref":"{ACCOUNT84}","label":"cold storage account"}}\n'
)


@dataclass
class Seeded:
    user_id: str
    wallet_id: str
    multisig_id: str
    node_id: str


async def seed(c: Container, email: str = "owner@example.com") -> Seeded:
    user = await c.accounts.create_user(email, "correct horse battery staple")
    async with c.store.write() as s:
        row = await s.get(User, user.id)
        assert row is not None
        row.totp_secret_enc = c.keyring.encrypt(TOTP_SEED, aad=user.id)
        s.add(row)
        node = LightningNode(
            user_id=user.id,
            name="node",
            host="127.0.0.1",
            port=9,  # closed: the node is stored, never reached
            network="REGTEST",
            pubkey="02" + "ab" * 32,
            tls_cert_enc=c.keyring.encrypt(TLS_PEM, aad=user.id),
            macaroon_enc=c.keyring.encrypt(MACAROON_HEX, aad=user.id),
        )
        s.add(node)
    single = await c.wallets.import_wallet(user.id, ImportWalletInput("Cold", ZPUB, Network.MAINNET))
    multi = await c.wallets.create_multisig_wallet(
        user.id,
        MultisigWalletInput(
            "Vault",
            Network.MAINNET,
            2,
            [CosignerSpec(xpub=k, fingerprint=f"0000000{i}") for i, k in enumerate(MS_KEYS)],
        ),
    )
    await c.wallets.import_labels(user.id, single.id, LABELS)
    return Seeded(user.id, single.id, multi.id, node.id)


async def assert_all_readable(c: Container, seeded: Seeded) -> None:
    """Every ciphertext decrypts, labels come back intact, and re-importing is still a duplicate."""
    single = await c.wallets.get_wallet(seeded.user_id, seeded.wallet_id)
    assert single.descriptor.startswith(f"wpkh({ACCOUNT84}/<0;1>/*)#")
    multi = await c.wallets.get_wallet(seeded.user_id, seeded.multisig_id)
    assert sorted(co.xpub for co in multi.cosigners) == sorted(MS_KEYS)
    exported = await c.wallets.export_labels(seeded.user_id, seeded.wallet_id)
    assert f'"ref":"{ACCOUNT84}"' in exported and "cold storage account" in exported and "rent" in exported
    async with c.store.read() as s:
        user = await s.get(User, seeded.user_id)
        node = (await s.exec(select(LightningNode).where(LightningNode.id == seeded.node_id))).one()
    assert user is not None and user.totp_secret_enc is not None
    assert c.keyring.decrypt(user.totp_secret_enc, aad=user.id) == TOTP_SEED
    assert c.keyring.decrypt(node.macaroon_enc, aad=node.user_id) == MACAROON_HEX
    assert c.keyring.decrypt(node.tls_cert_enc, aad=node.user_id) == TLS_PEM
    with pytest.raises(Conflict):
        await c.wallets.import_wallet(seeded.user_id, ImportWalletInput("Again", ZPUB, Network.MAINNET))
