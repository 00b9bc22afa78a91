"""The second factor: TOTP codes that work once, and single-use recovery codes.

A TOTP code is accepted only for a time step later than the last accepted one; the step is
stored with a conditional UPDATE, so two requests racing with the same code cannot both win.
Recovery codes are shown once and stored as keyed hashes; using one marks it used (also with
a conditional UPDATE).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, func, select

from app.security import totp
from app.security.crypto import Keyring
from app.store.db import Store, Tx
from app.store.models.accounts import RecoveryCode, User
from app.store.models.base import utcnow


class SecondFactor:
    def __init__(self, store: Store, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring

    def _secret(self, user: User) -> str:
        assert user.totp_secret_enc is not None
        return self.keyring.decrypt(user.totp_secret_enc, aad=user.id)

    async def begin(self, user: User) -> totp.TotpSetupData:
        secret = totp.new_secret()
        async with self.store.write() as s:
            await s.exec(
                sa.update(User)
                .where(col(User.id) == user.id)
                .values(totp_secret_enc=self.keyring.encrypt(secret, aad=user.id), totp_last_step=None)
            )
        return totp.TotpSetupData(secret=secret, uri=totp.provisioning_uri(secret, user.email))

    def pending_step(self, user: User, code: str) -> int | None:
        """The step of ``code`` for a set-up not yet confirmed (no step used before)."""
        if user.totp_secret_enc is None:
            return None
        return totp.matching_step(self._secret(user), code, None)

    async def verify(self, user: User, code: str) -> bool:
        """True when ``code`` is an unused TOTP code of this moment or an unused recovery code (now used)."""
        if not user.totp_enabled or user.totp_secret_enc is None:
            return False
        if totp.looks_like_totp(code):
            step = totp.matching_step(self._secret(user), code, user.totp_last_step)
            if step is None:
                return False
            async with self.store.write() as s:
                result = await s.exec(
                    sa.update(User)
                    .where(
                        col(User.id) == user.id,
                        sa.or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step),
                    )
                    .values(totp_last_step=step)
                )
            return bool(result.rowcount == 1)
        async with self.store.write() as s:
            result = await s.exec(
                sa.update(RecoveryCode)
                .where(
                    col(RecoveryCode.user_id) == user.id,
                    col(RecoveryCode.code_hash) == totp.recovery_code_hash(user.id, code),
                    col(RecoveryCode.used_at).is_(None),
                )
                .values(used_at=utcnow())
            )
        return bool(result.rowcount == 1)

    async def replace_recovery_codes(self, s: Tx, user_id: str) -> list[str]:
        """New recovery codes in the open transaction ``s`` (the old ones stop working)."""
        await s.exec(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
        codes = [totp.new_recovery_code() for _ in range(totp.RECOVERY_CODE_COUNT)]
        for code in codes:
            s.add(RecoveryCode(user_id=user_id, code_hash=totp.recovery_code_hash(user_id, code)))
        return codes

    async def remove(self, s: Tx, user_id: str) -> None:
        """Turn 2FA off in ``s``: no secret, no step, no recovery codes."""
        await s.exec(
            sa.update(User)
            .where(col(User.id) == user_id)
            .values(totp_enabled=False, totp_secret_enc=None, totp_last_step=None)
        )
        await s.exec(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))

    async def remaining(self, user_id: str) -> int:
        async with self.store.read() as s:
            q = select(func.count()).select_from(RecoveryCode)
            q = q.where(RecoveryCode.user_id == user_id, col(RecoveryCode.used_at).is_(None))
            return int((await s.exec(q)).one())
