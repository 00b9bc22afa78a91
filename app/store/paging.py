"""Keyset pagination shared by every list that can grow (Relay connections at the API edge)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from app.errors import BadInput

T = TypeVar("T")
U = TypeVar("U")
DEFAULT_PAGE = 50
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    total: int
    has_previous: bool = False  # items come before this page (known when paging from a cursor)

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None

    @property
    def start_cursor(self) -> str | None:
        return self.cursors[0] if self.cursors else None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (rows to views)."""
        return Page([convert(i) for i in self.items], self.cursors, self.has_next, self.total)


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        if not isinstance(key, list):
            raise ValueError
        return key
    except ValueError:
        raise BadInput("That cursor is not one this API returned.", field="after", hint="pass an endCursor") from None


def cursor_key(after: str | None, *types: type) -> tuple[Any, ...] | None:
    """The key of an ``after`` cursor whose parts have these types (None without a cursor);
    any other cursor is a ``BAD_USER_INPUT`` on ``after``."""
    if not after:
        return None
    key = decode_cursor(after)
    if len(key) != len(types) or not all(type(k) is t for k, t in zip(key, types, strict=True)):
        raise BadInput("That cursor does not belong to this list.", field="after", hint="pass an endCursor")
    return tuple(key)


def page_of(rows: Sequence[T], size: int, total: int, key: Callable[[T], Sequence[Any]]) -> Page[T]:
    """The page of ``rows`` fetched with ``LIMIT size + 1`` (the extra row tells there is more)."""
    items = list(rows[:size])
    return Page(items=items, cursors=[encode_cursor(key(r)) for r in items], has_next=len(rows) > size, total=total)


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise BadInput(f"first must be between 0 and {MAX_PAGE}.", field="first")
    return first


def paginate_positions(items: Sequence[T], first: int | None, after: str | None) -> Page[T]:
    """Page a list whose order is fixed for the caller (computed rows: disposals, forwards,
    reports); the cursor is the item's position."""
    size = page_size(first)
    key = cursor_key(after, int)
    start = 0 if key is None else key[0] + 1
    if start < 0:
        raise BadInput("That cursor does not belong to this list.", field="after")
    return Page(
        items=list(items[start : start + size]),
        cursors=[encode_cursor([i]) for i in range(start, min(start + size, len(items)))],
        has_next=start + size < len(items),
        total=len(items),
        has_previous=start > 0,
    )


def paginate_list(
    items: Sequence[T], key: Callable[[T], Sequence[Any]], first: int | None, after: str | None
) -> Page[T]:
    """Page an in-memory list already sorted by ``key`` (used for small or computed lists)."""
    size = page_size(first)
    start = 0
    if after:
        target = decode_cursor(after)
        keys = [json.loads(json.dumps(list(key(i)), default=str)) for i in items]
        start = next((n + 1 for n, k in enumerate(keys) if k == target), None) or 0
        if start == 0:
            raise BadInput("That cursor does not belong to this list.", field="after")
    chunk = list(items[start : start + size])
    return Page(
        items=chunk,
        cursors=[encode_cursor(key(i)) for i in chunk],
        has_next=start + size < len(items),
        total=len(items),
    )
