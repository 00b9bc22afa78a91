"""Password hashing with argon2id (RFC 9106 / OWASP parameters or stronger)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP 2024: argon2id, m=19 MiB, t=2, p=1 minimum. We use 64 MiB, t=3, p=2 (still ~50 ms here).
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=2, hash_len=32, salt_len=16)
# Verifying against this keeps the time of a login for an unknown email the same as for a known one.
_DUMMY_HASH = _HASHER.hash("not-a-real-password-used-for-timing")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)
