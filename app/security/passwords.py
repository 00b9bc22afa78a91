"""Password hashing with argon2id (RFC 9106 / OWASP parameters or stronger).

argon2 is slow on purpose (~50 ms, 64 MiB), so the async helpers run it on a small dedicated
thread pool: the event loop keeps serving other requests, and a flood of registrations or
logins queues behind two workers instead of taking every core.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP 2024: argon2id, m=19 MiB, t=2, p=1 minimum. We use 64 MiB, t=3, p=2 (still ~50 ms here).
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=2, hash_len=32, salt_len=16)
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
_dummy_hash: str | None = None


def _dummy() -> str:
    """Verifying against this keeps the time of a login for an unknown email the same as for a known one."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _HASHER.hash("not-a-real-password-used-for-timing")
    return _dummy_hash


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_POOL, hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_POOL, verify_password, password_hash, password)
