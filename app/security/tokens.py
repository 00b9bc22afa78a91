"""Opaque bearer tokens: 256 random bits shown once, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "mbf_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 suffices: the token has 256 bits of entropy, so no salt or stretching is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_from_header(value: str | None) -> str | None:
    """``Bearer <token>`` → token; anything else → None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
