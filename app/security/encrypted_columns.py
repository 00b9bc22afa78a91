"""Every column that holds a keyring ciphertext, and the row value each one is bound to (``aad``).

Key rotation, the start-up key check and backups walk this list; a test fails when a model gains
an ``*_enc`` column that is not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    column: str
    pk: str  # primary key column
    aad: str | None  # column whose value is the ciphertext's associated data (None: a fixed aad)


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("users", "totp_secret_enc", "id", "id"),
    EncryptedColumn("wallets", "descriptor_enc", "id", "user_id"),
    EncryptedColumn("wallets", "cosigners_enc", "id", "user_id"),
    EncryptedColumn("wallet_labels", "ref_enc", "id", "user_id"),
    EncryptedColumn("lightning_nodes", "tls_cert_enc", "id", "user_id"),
    EncryptedColumn("lightning_nodes", "macaroon_enc", "id", "user_id"),
    EncryptedColumn("lightning_nodes", "channel_backup_enc", "id", "user_id"),
    EncryptedColumn("key_store", "value_enc", "name", "name"),
)
