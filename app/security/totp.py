"""TOTP codes (RFC 6238) that work once: the matched time step is returned so the caller can store it
and refuse that step (and every earlier one) afterwards. The window is ±1 step (30 s) at most."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp

WINDOW_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="MyBitcoinFuture")


def matching_step(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (within ±1 of now and later than ``last_step``), or None."""
    code = (code or "").strip().replace(" ", "")
    totp = pyotp.TOTP(secret)
    if len(code) != totp.digits or not code.isdigit():
        return None
    current = int((time.time() if now is None else now) // totp.interval)
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def looks_like_totp(code: str) -> bool:
    stripped = (code or "").strip().replace(" ", "")
    return stripped.isdigit() and len(stripped) <= 8


def new_recovery_code() -> str:
    """80 random bits as ``xxxx-xxxx-xxxx-xxxx`` (16 characters of a 31-letter alphabet)."""
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def recovery_code_hash(user_id: str, code: str) -> str:
    """A keyed hash bound to the user. 80 random bits need no stretching (like bearer tokens)."""
    normalized = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    return hmac.new(b"mbf-recovery-code", f"{user_id}:{normalized}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class TotpSetupData:
    secret: str
    uri: str
