"""One declaration of a connection's paging arguments (``schema.pagination.paged``).

Every field that answers a Relay connection takes ``first``/``after``/``last``/``before`` with the
same descriptions, declared once; the resolver receives them as one ``PageArgs``. The second test
builds a schema of its own, so it also pins what ``paged`` relies on in Strawberry: it reads a
resolver's arguments from ``inspect.signature`` (which honours ``__signature__``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from graphql import GraphQLInterfaceType, GraphQLObjectType, get_named_type

from app.config import Settings
from app.graphql_schema import build_schema
from schema.pagination import DESCRIPTIONS, PageArgs, paged

PAGING = ["first", "after", "last", "before"]


def test_every_connection_field_pages_with_the_same_four_arguments() -> None:
    schema = build_schema(Settings(_env_file=None))  # type: ignore[call-arg]
    fields = [
        (t.name, name, field)
        for t in schema._schema.type_map.values()
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType) and not t.name.startswith("__")
        for name, field in t.fields.items()
        if get_named_type(field.type).name.endswith("Connection")
    ]
    assert len(fields) >= 17
    for type_name, name, field in fields:
        args = list(field.args)
        assert [a for a in args if a in PAGING] == PAGING, (type_name, name)
        assert args[-2:] == ["last", "before"], (type_name, name)  # backward paging comes last
        assert {a: field.args[a].description for a in PAGING} == DESCRIPTIONS, (type_name, name)


def test_a_paged_resolver_gets_one_page_args_and_keeps_its_own_arguments() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        @paged
        def items(self, page: PageArgs, tag: str = "all") -> str:
            return f"{tag}:{page.first}:{page.after}:{page.last}:{page.before}"

        @strawberry.field
        @paged
        async def later(self, info: strawberry.Info, page: PageArgs) -> str:
            return f"{info.field_name}:{page.last}"

    sdl_schema: Any = strawberry.Schema(query=Query)
    items = sdl_schema._schema.query_type.fields["items"]
    assert list(items.args) == ["first", "after", "tag", "last", "before"]
    assert items.args["first"].description == DESCRIPTIONS["first"]
    result = sdl_schema.execute_sync('{ items(first: 2, tag: "x", before: "c") }')
    assert result.errors is None and result.data == {"items": "x:2:None:None:c"}

    result = asyncio.run(sdl_schema.execute("{ later(last: 3) }"))
    assert result.errors is None and result.data == {"later": "later:3"}
