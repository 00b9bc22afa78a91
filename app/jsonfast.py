"""Fast JSON out (orjson) for HTTP responses and WebSocket frames, with the standard library's output
for everything the API promises: ``Decimal`` as a string (fiat amounts are decimal strings),
datetimes and any other non-JSON value through ``str`` (as ``json.dumps(default=str)`` did), non-string
keys as strings, and integers beyond 64 bits (orjson refuses them) through ``json``."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def dumps_bytes(value: Any) -> bytes:
    """Compact JSON bytes."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):  # e.g. an int over 64 bits
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def dumps(value: Any) -> str:
    """Compact JSON text (WebSocket frames are text)."""
    return dumps_bytes(value).decode()


def canonical(value: Any) -> bytes:
    """The same JSON for equal values whatever the key order (cache keys)."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS | orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, separators=(",", ":"), default=str, sort_keys=True).encode()
