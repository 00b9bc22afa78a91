"""Key material in BIP-329 labels: encrypted (``xpub`` records) or refused (anywhere else).

Addresses, txids and label texts stay plain (they are looked up by index; docs/security.md says
why and what that means for the database and backups). An extended key is different: it reveals
every address of a wallet, so an ``xpub`` record keeps only a blind index in ``ref`` (unique per
wallet, stable across key rotations) and the key itself encrypted in ``ref_enc``. A private
key, or an extended key inside a label text, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import sqlalchemy as sa

from app.security.crypto import Keyring
from app.store.db import Tx

# Base58 extended keys of every SLIP-132 prefix (xpub/tpub/ypub/zpub/upub/vpub, multisig capitals).
_B58 = "1-9A-HJ-NP-Za-km-z"
EXTENDED_KEY = re.compile(rf"(?<![{_B58}])[xtyzuvYZUV](?:pub|prv)[{_B58}]{{100,112}}(?![{_B58}])")
PRIVATE_KEY = re.compile(rf"(?<![{_B58}])[xtyzuvYZUV]prv[{_B58}]{{100,112}}(?![{_B58}])")
BLIND_PREFIX = "k:"


def contains_key_material(text: str) -> bool:
    """True if ``text`` holds an extended public or private key."""
    return EXTENDED_KEY.search(text) is not None


def is_private_key(text: str) -> bool:
    return PRIVATE_KEY.search(text) is not None


def blind_ref(keyring: Keyring, user_id: str, wallet_id: str, key: str) -> str:
    """The stored ``ref`` of an ``xpub`` label: equal for the same key in the same wallet, opaque otherwise."""
    msg = f"{user_id}\n{wallet_id}\n{key.strip()}".encode()
    return BLIND_PREFIX + hmac.new(keyring.subkey("label-xpub-ref"), msg, hashlib.sha256).hexdigest()


def stored_ref(keyring: Keyring, user_id: str, wallet_id: str, type_: str, ref: str) -> tuple[str, str | None]:
    """``(ref column, ref_enc column)`` for a label record."""
    if type_ != "xpub":
        return ref, None
    return blind_ref(keyring, user_id, wallet_id, ref), keyring.encrypt(ref, aad=user_id)


def shown_ref(keyring: Keyring, user_id: str, ref: str, ref_enc: str | None) -> str:
    """The ref a user sees (the decrypted key for ``xpub`` records)."""
    return keyring.decrypt(ref_enc, aad=user_id) if ref_enc else ref


async def encrypt_plain_xpub_labels(s: Tx, keyring: Keyring) -> int:
    """Encrypt ``xpub`` labels stored in clear before this protection existed; returns how many."""
    labels = sa.table(
        "wallet_labels", sa.column("id"), sa.column("user_id"), sa.column("wallet_id"), sa.column("type"),
        sa.column("ref"), sa.column("ref_enc"),
    )  # fmt: skip
    conn = await s.connection()
    rows = (
        await conn.execute(
            sa.select(labels.c.id, labels.c.user_id, labels.c.wallet_id, labels.c.ref).where(
                labels.c.type == "xpub", labels.c.ref_enc.is_(None)
            )
        )
    ).all()
    for id_, user_id, wallet_id, ref in rows:
        blind, enc = stored_ref(keyring, user_id, wallet_id, "xpub", ref)
        await conn.execute(sa.update(labels).where(labels.c.id == id_).values(ref=blind, ref_enc=enc))
    return len(rows)
