"""Relay connections: ``{ edges { cursor node } pageInfo { hasNextPage hasPreviousPage startCursor
endCursor } totalCount }``, paged forward with ``first``/``after`` or backward with
``last``/``before`` (``app/store/paging.py`` holds the rules; docs/frontend.md shows the use)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry

from app.store.paging import Page, Window, window

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageArgs:
    """A connection field's four arguments, as given."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def window(self, types: Sequence[type] | None = None) -> Window:
        """The window they ask for (``BAD_USER_INPUT`` naming the argument at fault)."""
        return window(self.first, self.after, self.last, self.before, types=types)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = False
    start_cursor: str | None = None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


def to_connection(page: Page[Any], convert: Callable[[Any], T]) -> Connection[T]:
    """Map a service :class:`Page` to a GraphQL connection, converting each item."""
    return Connection(
        edges=[Edge(cursor=c, node=convert(item)) for item, c in zip(page.items, page.cursors, strict=True)],
        page_info=PageInfo(
            has_next_page=page.has_next,
            end_cursor=page.end_cursor,
            has_previous_page=page.has_previous,
            start_cursor=page.start_cursor,
        ),
        total_count=page.total,
    )
