"""Relay connections: ``{ edges { cursor node } pageInfo { hasNextPage hasPreviousPage startCursor
endCursor } totalCount }``, paged forward with ``first``/``after`` or backward with
``last``/``before`` (``app/store/paging.py`` holds the rules; docs/frontend.md shows the use).

A connection field declares its four arguments once, with :func:`paged`: the resolver takes
``page: PageArgs`` and the schema shows ``first``/``after`` where ``page`` is and ``last``/``before``
after the field's other arguments, each with the description below."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from app.store.paging import Page, Window, window

T = TypeVar("T")
R = TypeVar("R")

DESCRIPTIONS = {
    "first": "Page forward: the first this many items (after `after`, if given); default 50, at most 500. "
    "Not with `last`.",
    "after": "A cursor (`pageInfo.endCursor` or an edge's cursor): only the items after it.",
    "last": "Page backward: the last this many items (before `before`, if given); at most 500. Not with `first`.",
    "before": "A cursor (`pageInfo.startCursor` or an edge's cursor): only the items before it.",
}


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


def _argument(name: str, annotation: object) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


FORWARD = (
    _argument("first", Annotated[int | None, strawberry.argument(description=DESCRIPTIONS["first"])]),
    _argument("after", Annotated[str | None, strawberry.argument(description=DESCRIPTIONS["after"])]),
)
BACKWARD = (
    _argument("last", Annotated[int | None, strawberry.argument(description=DESCRIPTIONS["last"])]),
    _argument("before", Annotated[str | None, strawberry.argument(description=DESCRIPTIONS["before"])]),
)


def paged(resolver: Callable[..., R]) -> Callable[..., R]:
    """Give a connection field's resolver its four paging arguments: it takes ``page: PageArgs``;
    Strawberry sees ``first``/``after`` in its place and ``last``/``before`` after the other
    arguments (it reads the resolver's ``inspect.signature``), and the call hands over one
    ``PageArgs``. Put it under ``@strawberry.field``."""
    sig = inspect.signature(resolver)
    params = list(sig.parameters.values())
    at = [p.name for p in params].index("page")
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[at + 1 :]]
    signature = sig.replace(parameters=[*params[:at], *FORWARD, *rest, *BACKWARD])

    def page_of(kwargs: dict[str, Any]) -> PageArgs:
        return PageArgs(*(kwargs.pop(name, None) for name in ("first", "after", "last", "before")))

    wrapper: Any
    if inspect.iscoroutinefunction(resolver):

        @functools.wraps(resolver)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await resolver(*args, page=page_of(kwargs), **kwargs)

    else:

        @functools.wraps(resolver)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return resolver(*args, page=page_of(kwargs), **kwargs)

    wrapper.__signature__ = signature
    wrapper.__annotations__ = {
        **{p.name: p.annotation for p in signature.parameters.values()},
        "return": sig.return_annotation,
    }
    return wrapper


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
