"""Pins on the internals of dependencies that the code overrides or reaches into, so an upgrade
that moves them fails here by name instead of silently bypassing our code (versions are locked
in constraints.txt; behaviour is tested end to end in tests/subscriptions and tests/bitcoin).

- ``subscriptions/transport.py`` overrides methods of Strawberry's WebSocket handlers: each
  override must still override a method the base class calls.
- ``app/http/graphql.py`` (``GraphQLApp``) overrides methods of Strawberry's ASGI view, among them
  ``execute_single`` (persisted queries, the response cache, no subscriptions over HTTP): each
  must still be a method Strawberry calls, with the same parameters.
- ``schema/pagination.py:paged`` relies on Strawberry reading a resolver's arguments from
  ``inspect.signature``: pinned by ``tests/schema/test_paged.py``, which builds a schema of its own.
- ``app/http/connection_abort.py`` reaches the asyncio transport of uvicorn's WebSocket protocol
  through the ``send`` it passes to the application.
- ``app/bitcoin/derive.py`` uses embit's ctypes context ``_secp.ctx`` and libsecp256k1's
  functions through it.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from app.bitcoin.derive import secp256k1_backend
from subscriptions.transport import LegacyLiveHandler, LiveHandler

OVERRIDDEN = {
    LiveHandler: (
        BaseGraphQLTransportWSHandler,
        ["handle", "handle_invalid_message", "handle_connection_init", "handle_subscribe", "cleanup_operation",
         "send_message"],
    ),
    LegacyLiveHandler: (BaseGraphQLWSHandler, ["handle", "handle_connection_init"]),
}  # fmt: skip


def test_our_websocket_overrides_still_override_strawberry_methods() -> None:
    for ours, (base, names) in OVERRIDDEN.items():
        for name in names:
            theirs = getattr(base, name, None)
            assert theirs is not None, f"Strawberry's {base.__name__} no longer has {name}: review {ours.__name__}"
            assert inspect.iscoroutinefunction(theirs), f"{base.__name__}.{name} is no longer a coroutine"
            assert list(inspect.signature(theirs).parameters) == list(inspect.signature(getattr(ours, name)).parameters)
        source = inspect.getsource(base)
        for name in names:
            if name != "handle":
                assert f"self.{name}(" in source, f"{base.__name__} no longer calls {name}: our override is dead"


HTTP_VIEW_OVERRIDES = ["execute_single", "get_context", "on_ws_connect", "create_response", "encode_json",
                       "parse_json", "should_render_graphql_ide", "render_graphql_ide"]  # fmt: skip


def test_our_http_view_overrides_still_override_strawberry_methods() -> None:
    from strawberry import subscriptions
    from strawberry.asgi import GraphQL

    from app.http.graphql import GraphQLApp

    callers = [c for c in GraphQL.__mro__ if c.__module__.startswith("strawberry")]
    source = "".join(inspect.getsource(c) for c in callers) + "".join(
        path.read_text() for path in Path(subscriptions.__file__).parent.rglob("*.py")
    )
    for name in HTTP_VIEW_OVERRIDES:
        theirs, ours = getattr(GraphQL, name, None), getattr(GraphQLApp, name)
        assert theirs is not None, f"Strawberry's GraphQL view no longer has {name}: review GraphQLApp"
        assert inspect.iscoroutinefunction(theirs) == inspect.iscoroutinefunction(ours), name
        assert list(inspect.signature(theirs).parameters) == list(inspect.signature(ours).parameters), name
        assert f".{name}(" in source, f"Strawberry no longer calls {name}: our override is dead"


def test_strawberry_handler_state_we_rely_on() -> None:
    init = inspect.getsource(BaseGraphQLTransportWSHandler.__init__)
    for attr in ("connection_init_received", "connection_acknowledged", "connection_timed_out", "operations",
                 "connection_init_timeout_task", "max_subscriptions_per_connection"):  # fmt: skip
        assert f"self.{attr}" in init, f"Strawberry's handler no longer sets {attr}"


def test_embit_secp256k1_context_is_the_fast_path() -> None:
    from embit.util import ctypes_secp256k1 as cs

    assert secp256k1_backend() == "libsecp256k1"
    assert isinstance(cs._secp.ctx, int) and cs._secp.ctx  # the context pointer derive.py borrows
    for fn in ("ec_pubkey_create", "ec_pubkey_combine", "ec_pubkey_serialize", "ec_pubkey_parse",
               "ec_pubkey_negate"):  # fmt: skip
        assert hasattr(cs._secp, f"secp256k1_{fn}"), fn


def test_uvicorn_websocket_protocol_keeps_its_transport_behind_send() -> None:
    """``app/http/connection_abort.py`` aborts a non-reading socket through the protocol behind ``send``."""
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    assert AutoWebSocketsProtocol is not None
    assert "self.transport = " in inspect.getsource(AutoWebSocketsProtocol.connection_made)  # type: ignore[attr-defined]
    assert inspect.iscoroutinefunction(AutoWebSocketsProtocol.send)  # type: ignore[attr-defined]

