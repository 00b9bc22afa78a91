"""Scrubbing of secrets from anything that is about to be logged.

Two layers: values under keys that name a secret are dropped whole (:func:`redact_mapping`), and
every string, at any depth, has secret-looking substrings replaced (:func:`scrub`): bearer tokens,
extended keys (so descriptors too), macaroons, TOTP seeds and ``otpauth://`` URIs, connection-URL
passwords. Exception messages and tracebacks are strings too, so they are scrubbed the same way.
Passwords cannot be recognised by their shape: they are kept out of logs by never rendering frame
locals (see ``app/logging.py``) and by engines that hide SQL parameters (``app/store/db.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

SECRET_KEYS = re.compile(
    r"(password|passwd|secret|token|authorization|cookie|macaroon|xpub|tpub|zpub|ypub|xprv|tprv|descriptor|"
    r"source|cosigner|tls_?cert|otp|totp|seed|api_?key|private|recovery|credential)",
    re.I,
)

_PATTERNS = [
    re.compile(r"\bmbf_[A-Za-z0-9_-]{16,}"),  # bearer tokens and API keys of this server
    re.compile(r"(?i)\bbearer\s+[^\s'\"]+"),
    re.compile(r"\b[xtyzuvYZUV](?:pub|prv)[1-9A-HJ-NP-Za-km-z]{60,}"),  # BIP-32 keys (alone or in descriptors)
    re.compile(r"(?i)otpauth://[^\s'\"]+"),
    re.compile(r"\b[A-Z2-7]{16,}={0,6}(?![A-Za-z0-9])"),  # base32 TOTP seeds
    re.compile(r"\b[0-9a-fA-F]{130,}\b"),  # hex macaroons (longer than txids, pubkeys and hashes)
    re.compile(r"\bAgE[A-Za-z0-9+/_-]{40,}={0,2}"),  # base64 macaroons
    re.compile(r"(?<=://)[^/\s:@'\"]+:[^/\s@'\"]+(?=@)"),  # user:password@ in URLs
]


def scrub(text: str) -> str:
    """``text`` with every secret-looking substring replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def redact_value(value: Any, depth: int = 0) -> Any:
    """Scrub strings and redact secret-named keys at any depth of dicts, lists and tuples."""
    if isinstance(value, str):
        return scrub(value)
    if depth > 20:
        return REDACTED
    if isinstance(value, Mapping):
        return redact_mapping(value, depth + 1)
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    return scrub(str(value))  # any other object: its text, scrubbed (its repr could hold a secret)


def redact_mapping(values: Mapping[Any, Any], depth: int = 0) -> dict[Any, Any]:
    return {
        k: REDACTED if isinstance(k, str) and SECRET_KEYS.search(k) else redact_value(v, depth)
        for k, v in values.items()
    }
