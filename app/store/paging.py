"""Pagination shared by every list that can grow (Relay connections at the API edge).

A connection's arguments (``first``/``after`` forward, ``last``/``before`` backward) become one
:class:`Window`; every list turns a window into a :class:`Page` the same way, whatever holds its
items (a keyset ``WHERE`` in SQL, LND's index offsets, an in-memory list). The page flags follow
the Relay specification: paging forward, ``has_next`` says whether the items between the cursors
go on past the page; paging backward, ``has_previous`` says so for the items before it. The other
flag, which the specification lets a server leave false, is answered exactly: whether the list
has items at or before ``after`` (forward) or at or after ``before`` (backward).
"""

from __future__ import annotations

import base64
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from app.errors import BadInput

T = TypeVar("T")
U = TypeVar("U")
DEFAULT_PAGE = 50
MAX_PAGE = 500
Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    total: int
    has_previous: bool = False

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None

    @property
    def start_cursor(self) -> str | None:
        return self.cursors[0] if self.cursors else None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (rows to views)."""
        return Page([convert(i) for i in self.items], self.cursors, self.has_next, self.total, self.has_previous)


@dataclass(frozen=True, slots=True)
class Window:
    """What a connection's arguments ask for: ``size`` items from the start (forward) or the end
    (``backward``) of the items strictly between the ``after`` and ``before`` keys. Hashable: it
    is part of a DataLoader key."""

    size: int
    backward: bool = False
    after: Key | None = None
    before: Key | None = None

    @property
    def cursors(self) -> bool:
        return self.after is not None or self.before is not None


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hint(field: str) -> str:
    return "pass a pageInfo.endCursor or an edge's cursor" if field == "after" else "pass a pageInfo.startCursor"


def decode_cursor(cursor: str, field: str = "after") -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        if not isinstance(key, list):
            raise ValueError
        return key
    except ValueError:
        raise BadInput(
            f"`{field}`: that cursor is not one this API returned.", field=field, hint=_hint(field)
        ) from None


def _typed(cursor: str | None, field: str, types: Sequence[type] | None) -> Key | None:
    if cursor is None:
        return None
    key = decode_cursor(cursor, field)
    if types is not None and (len(key) != len(types) or not all(type(k) is t for k, t in zip(key, types, strict=True))):
        raise BadInput(f"`{field}`: that cursor does not belong to this list.", field=field, hint=_hint(field))
    if not all(isinstance(k, str | int | float | bool) or k is None for k in key):
        raise BadInput(f"`{field}`: that cursor does not belong to this list.", field=field, hint=_hint(field))
    return tuple(key)


def _count(value: int | None, field: str) -> int | None:
    if value is not None and not 0 <= value <= MAX_PAGE:
        raise BadInput(f"`{field}` must be between 0 and {MAX_PAGE}.", field=field, hint=f"ask for at most {MAX_PAGE}")
    return value


def window(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    *,
    types: Sequence[type] | None = None,
) -> Window:
    """The window a connection's arguments ask for (``first`` defaults to 50); ``types`` are the
    types of a cursor key's parts, when the list knows them. Anything wrong is a
    ``BAD_USER_INPUT`` naming the argument."""
    _count(first, "first")
    _count(last, "last")
    if first is not None and last is not None:
        raise BadInput(
            "Give `first` (paging forward) or `last` (paging backward), not both.",
            field="last",
            hint="first/after pages forward, last/before backward",
        )
    after_key = _typed(after or None, "after", types)
    before_key = _typed(before or None, "before", types)
    if last is not None:
        return Window(last, True, after_key, before_key)
    return Window(DEFAULT_PAGE if first is None else first, False, after_key, before_key)


def page_of(
    rows: Sequence[T], w: Window, total: int, key: Callable[[T], Sequence[Any]], *, beyond: bool = False
) -> Page[T]:
    """The page of ``rows`` fetched in the window's direction (nearest the cursor first: reversed
    list order when paging backward) with ``LIMIT size + 1`` (the extra row tells there is more).
    ``beyond``: the list has items past the opposite cursor (at or before ``after`` paging forward,
    at or after ``before`` paging backward)."""
    items = list(rows[: w.size])
    more = len(rows) > w.size
    if w.backward:
        items.reverse()
    return Page(
        items=items,
        cursors=[encode_cursor(key(r)) for r in items],
        has_next=beyond if w.backward else more,
        total=total,
        has_previous=more if w.backward else beyond,
    )


def _slice(items: Sequence[T], start: int, end: int, w: Window) -> tuple[int, list[T], bool, bool]:
    """Items ``start:end`` of the list cut to the window: (offset of the first, items, has_previous, has_next)."""
    end = max(start, end)
    inside = end - start
    take = min(w.size, inside)
    first = end - take if w.backward else start
    chunk = list(items[first : first + take])
    if w.backward:
        return first, chunk, inside > take, end < len(items)
    return first, chunk, start > 0, inside > take


def paginate_positions(items: Sequence[T], w: Window) -> Page[T]:
    """Page a list whose order is fixed for the caller (computed rows: disposals, forwards,
    reports); the cursor is the item's position."""
    start, end = 0, len(items)
    for field, key in (("after", w.after), ("before", w.before)):
        if key is None:
            continue
        if len(key) != 1 or type(key[0]) is not int or key[0] < 0:
            raise BadInput(f"`{field}`: that cursor does not belong to this list.", field=field, hint=_hint(field))
        if field == "after":
            start = min(key[0] + 1, len(items))
        else:
            end = min(key[0], len(items))
    first, chunk, has_previous, has_next = _slice(items, start, end, w)
    return Page(
        items=chunk,
        cursors=[encode_cursor([i]) for i in range(first, first + len(chunk))],
        has_next=has_next,
        total=len(items),
        has_previous=has_previous,
    )


def paginate_list(
    items: Sequence[T],
    key: Callable[[T], Sequence[Any]],
    w: Window,
    *,
    rank: Callable[[Sequence[Any]], Any] | None = None,
) -> Page[T]:
    """Page an in-memory list already in its order (small or computed lists, e.g. a node's
    channels); the cursor is the item's ``key``. Without ``rank`` the cursor's item must still be
    in the list; with ``rank`` (a key's place in the list's ascending order) a cursor keeps its
    place after its item is gone (a spent output, a disconnected peer)."""
    keys = [tuple(json.loads(json.dumps(list(key(i)), default=str))) for i in items]
    index = {k: n for n, k in enumerate(keys)}
    ranks = [rank(k) for k in keys] if rank is not None else []
    start, end = 0, len(items)
    for field, target in (("after", w.after), ("before", w.before)):
        if target is None:
            continue
        if rank is not None:
            try:
                place = rank(target)
                position = bisect_right(ranks, place) if field == "after" else bisect_left(ranks, place)
            except (TypeError, IndexError, ValueError):
                raise BadInput(
                    f"`{field}`: that cursor does not belong to this list.", field=field, hint=_hint(field)
                ) from None
            if field == "after":
                start = position
            else:
                end = position
            continue
        found = index.get(target)
        if found is None:
            raise BadInput(
                f"`{field}`: that cursor does not belong to this list (or its item is gone).",
                field=field,
                hint=_hint(field) + " of this list; start again without one",
            )
        if field == "after":
            start = found + 1
        else:
            end = found
    first, chunk, has_previous, has_next = _slice(items, start, end, w)
    return Page(
        items=chunk,
        cursors=[encode_cursor(k) for k in keys[first : first + len(chunk)]],
        has_next=has_next,
        total=len(items),
        has_previous=has_previous,
    )


# -- keyset paging in SQL ----------------------------------------------------------------------

Order = Sequence[tuple[Any, bool]]  # (column expression, descending) from the most significant


def past(order: Order, key: Key, *, after: bool) -> sa.ColumnElement[bool]:
    """Rows that come strictly after (``after=True``) or strictly before ``key`` in ``order``."""
    terms = []
    for n, (column, descending) in enumerate(order):
        value = key[n]
        later = (column < value) if descending == after else (column > value)
        equal = [c == key[i] for i, (c, _) in enumerate(order[:n])]
        terms.append(sa.and_(*equal, later))
    return sa.or_(*terms)


def keyset(order: Order, w: Window) -> tuple[list[sa.ColumnElement[bool]], list[Any]]:
    """The conditions that keep the rows between the window's cursors, and the ``ORDER BY`` that
    reads them from the cursor the window pages away from (reversed order paging backward)."""
    where = []
    if w.after is not None:
        where.append(past(order, w.after, after=True))
    if w.before is not None:
        where.append(past(order, w.before, after=False))
    by = [c.asc() if desc == w.backward else c.desc() for c, desc in order]
    return where, by


def beyond_condition(order: Order, w: Window) -> sa.ColumnElement[bool] | None:
    """Rows past the cursor opposite to the window's direction (see :func:`page_of`'s ``beyond``);
    None when that cursor is not given (nothing can be past it)."""
    if w.backward:
        return None if w.before is None else sa.not_(past(order, w.before, after=False))
    return None if w.after is None else sa.not_(past(order, w.after, after=True))
