"""Secret key rotation: every ciphertext re-encrypted under a new key, safe to re-run after a crash.

The order makes every interruption recoverable by running the rotation again:

1. The new key is written to ``<key file>.new`` (atomically) before the database is touched; a
   re-run finds it and finishes the same rotation instead of starting another.
2. One database transaction re-encrypts every column of
   :data:`~app.security.encrypted_columns.ENCRYPTED_COLUMNS` and the key store (canary and
   index key; blind index values do not change). Rows already under the new key are skipped.
3. The old key is appended to ``<key file>.retired`` (read as a retired key until the operator
   deletes it: backups made before the rotation need it).
4. The new key replaces the key file (``os.replace``), and the pending file is gone.

Between 2 and 4 the keyring reads both keys (the pending file counts as a retired key), so the
server keeps working. A key given in ``MBF_SECRET_KEY`` cannot be rewritten: the new key goes to
``<data dir>/secret.key`` and the operator is told to drop the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from app.config import ConfigError, Settings
from app.security.crypto import (
    KEY_FILE_NAME,
    Keyring,
    derive_key,
    key_file_path,
    key_id,
    new_key_material,
    pending_file_path,
    read_key_lines,
    retired_file_path,
    write_secret_file,
)
from app.security.encrypted_columns import ENCRYPTED_COLUMNS
from app.security.keystore import open_keyring, rekey_entries
from app.store.db import Store


@dataclass
class RotationResult:
    key_id: str
    old_key_id: str
    key_file: Path
    retired_file: Path
    resumed: bool
    reencrypted: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def rotate_key(settings: Settings, store: Store, new_material: str | None = None) -> RotationResult:
    old = Keyring.from_settings(settings, create=False)
    pending = pending_file_path(settings)
    pending_lines = read_key_lines(pending)
    resumed = bool(pending_lines)
    if resumed:
        material = pending_lines[0]
        if new_material is not None and key_id(derive_key(new_material)) != key_id(derive_key(material)):
            raise ConfigError(
                f"a rotation to another key is pending in {pending}: run `mbf secrets rotate` without "
                "--new-key-file to finish it first"
            )
    else:
        material = (new_material or new_key_material()).strip()
        if key_id(derive_key(material)) == old.current_key_id:
            raise ConfigError("the new key is the current key")
        write_secret_file(pending, material + "\n")
    new_key = derive_key(material)
    new = Keyring(new_key, [old.current_key, *old.retired_keys], source=f"the pending key file {pending}")

    await open_keyring(store, new)  # the data must be readable with the keys we have before we touch it
    counts = await _reencrypt_all(store, new)

    retired = retired_file_path(settings)
    lines = read_key_lines(retired)
    known = {key_id(derive_key(line)) for line in lines}
    if old.current_key_id not in known and old.current_key_id != key_id(new_key):
        write_secret_file(retired, "".join(f"{line}\n" for line in [*lines, old.current_key.hex()]))

    result = RotationResult(key_id(new_key), old.current_key_id, key_file_path(settings), retired, resumed, counts)
    if settings.secret_key is not None:
        target = settings.data_dir / KEY_FILE_NAME
        write_secret_file(target, material + "\n")
        pending.unlink(missing_ok=True)
        result.key_file = target
        result.notes.append(
            f"MBF_SECRET_KEY still holds the old key: unset it (the new key is in {target}) "
            "or set it to the new key, then restart the server"
        )
    else:
        os.replace(pending, result.key_file)
    result.notes.append(
        f"the old key is kept in {retired} as a retired key (backups made before now need it); "
        "delete it once those backups have expired. Restart the server to use the new key."
    )
    return result


async def _reencrypt_all(store: Store, keyring: Keyring) -> dict[str, int]:
    """One transaction: every ciphertext not yet under the current key is decrypted and re-encrypted."""
    counts: dict[str, int] = {}
    async with store.write() as s:
        conn = await s.connection()
        for ec in ENCRYPTED_COLUMNS:
            if ec.table == "key_store":
                continue
            aad_col = ec.aad or ec.pk
            cols = {ec.pk, ec.column, aad_col}
            table = sa.table(ec.table, *(sa.column(c) for c in cols))
            rows = (
                await conn.execute(
                    sa.select(table.c[ec.pk], table.c[ec.column], table.c[aad_col]).where(
                        table.c[ec.column].is_not(None)
                    )
                )
            ).all()
            updates = [
                {"_pk": pk, "_value": keyring.encrypt(keyring.decrypt_bytes(token, aad=aad), aad=aad)}
                for pk, token, aad in rows
                if keyring.needs_rotation(token)
            ]
            if updates:
                stmt = (
                    sa.update(table)
                    .where(table.c[ec.pk] == sa.bindparam("_pk"))
                    .values({ec.column: sa.bindparam("_value")})
                )
                await conn.execute(stmt, updates)
            counts[f"{ec.table}.{ec.column}"] = len(updates)
        await rekey_entries(s, keyring)
    return counts
