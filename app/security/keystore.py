"""The start-up key check and the database's blind-index key.

``open_keyring`` runs before any service touches encrypted data (server start, CLI commands):

- With a canary in the database, it must decrypt with the configured keys, or start-up stops
  with :class:`KeyMismatch` (one line: which key source was used and how to fix it).
- Without one (first start, or a database from before the canary existed), any existing
  ciphertext must decrypt; then the canary and the index key are written.

The index key roots every blind index (``Keyring.subkey``). It is random for a new database; a
database that already has wallets keeps the root their fingerprints were made with (derived
from the key of that time). Rotation re-encrypts it but never changes it, so duplicate
detection survives rotations.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlmodel import select

from app.config import ConfigError
from app.security.crypto import DecryptionError, Keyring, legacy_index_root
from app.security.encrypted_columns import ENCRYPTED_COLUMNS
from app.store.db import Store, Tx
from app.store.models.base import utcnow
from app.store.models.keystore import KeyStoreEntry

CANARY = "canary"
INDEX_KEY = "index-key"
CANARY_VALUE = "mbf-key-check-v1"


class KeyMismatch(ConfigError):
    """The configured secret key cannot read this database's encrypted data."""


def mismatch_message(keyring: Keyring) -> str:
    return (
        f"secret key check failed: the key from {keyring.source} cannot decrypt this database's data. "
        "Use the key the data was written with (MBF_SECRET_KEY, MBF_SECRET_KEY_FILE or <data dir>/secret.key), "
        "or list it in MBF_OLD_SECRET_KEYS; if a `mbf secrets rotate` was interrupted, run it again."
    )


async def open_keyring(store: Store, keyring: Keyring) -> None:
    """Check the key against the database and install the index key (writes both on first use)."""
    async with store.write() as s:
        entries = {e.name: e for e in (await s.exec(select(KeyStoreEntry))).all()}
        if CANARY in entries:
            if not _canary_ok(keyring, entries[CANARY].value_enc):
                raise KeyMismatch(mismatch_message(keyring))
            root = bytes.fromhex(keyring.decrypt(entries[INDEX_KEY].value_enc, aad=INDEX_KEY))
        else:
            if not await _existing_ciphertext_ok(s, keyring):
                raise KeyMismatch(mismatch_message(keyring))
            conn = await s.connection()
            count = sa.select(sa.func.count()).select_from(sa.table("wallets"))
            has_wallets = (await conn.execute(count)).scalar_one() > 0
            root = legacy_index_root(keyring.current_key) if has_wallets else os.urandom(32)
            s.add(KeyStoreEntry(name=CANARY, value_enc=keyring.encrypt(CANARY_VALUE, aad=CANARY)))
            s.add(KeyStoreEntry(name=INDEX_KEY, value_enc=keyring.encrypt(root.hex(), aad=INDEX_KEY)))
        keyring.use_index_root(root)
        from app.security.label_keys import encrypt_plain_xpub_labels

        await encrypt_plain_xpub_labels(s, keyring)


async def key_matches(store: Store, keyring: Keyring) -> bool:
    """For /readyz: does the canary still decrypt (false after a rotation by another process)?"""
    async with store.read() as s:
        entry = await s.get(KeyStoreEntry, CANARY)
    return entry is None or _canary_ok(keyring, entry.value_enc)


def _canary_ok(keyring: Keyring, token: str) -> bool:
    try:
        return keyring.decrypt(token, aad=CANARY) == CANARY_VALUE
    except DecryptionError:
        return False


async def _existing_ciphertext_ok(s: Tx, keyring: Keyring) -> bool:
    """One ciphertext of each encrypted column must decrypt (a database from before the canary)."""
    conn = await s.connection()
    for ec in ENCRYPTED_COLUMNS:
        if ec.table == "key_store":
            continue
        col: sa.ColumnClause[str] = sa.column(ec.column)
        aad: sa.ColumnClause[str] = sa.column(ec.aad or ec.pk)
        q = sa.select(col, aad).select_from(sa.table(ec.table)).where(col.is_not(None)).limit(1)
        row = (await conn.execute(q)).first()
        if row is None:
            continue
        try:
            keyring.decrypt_bytes(row[0], aad=row[1])
        except DecryptionError:
            return False
    return True


async def rekey_entries(s: Tx, keyring: Keyring) -> None:
    """Re-encrypt the key store with the keyring's current key (used by rotation)."""
    for entry in (await s.exec(select(KeyStoreEntry))).all():
        plain = keyring.decrypt(entry.value_enc, aad=entry.name)
        entry.value_enc = keyring.encrypt(plain, aad=entry.name)
        entry.updated_at = utcnow()
        s.add(entry)
