"""The GraphQL endpoint: Strawberry's ASGI view with our auth, error shape and GraphiQL page.

This module and ``app/main.py`` are the composition root: the only parts of ``app/`` that
import ``schema/``.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app import jsonfast
from app.config import Settings
from app.container import Container
from app.events.envelope import Event
from app.http import persisted
from app.http.auth import InvalidCredentials, authenticate
from app.http.errors import error_response
from app.http.graphiql import graphiql_page
from app.http.response_cache import DATA_CHANGED, Lookup, ResponseCache
from app.persisted_queries import document_hash
from schema.context import Context
from subscriptions.registry import LiveConnections
from subscriptions.transport import LegacyLiveHandler, LiveHandler

log = structlog.get_logger(__name__)

_STATUS_CODES = {
    400: "BAD_USER_INPUT",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "BAD_USER_INPUT",
    413: "BAD_USER_INPUT",
    415: "BAD_USER_INPUT",
}


SUBSCRIPTIONS_OVER_WS = "subscriptions run over WebSocket: graphql-transport-ws at /graphql"

# The response-cache key of the request being executed, for create_response to store the bytes.
_PENDING: ContextVar[Lookup | None] = ContextVar("response_cache_pending", default=None)


class _CachedAnswer(Exception):
    """A response-cache hit: these bytes are the answer, nothing is executed."""

    def __init__(self, body: bytes) -> None:
        self.body = body


class GraphQLApp(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = LiveHandler  # limits, auth lifetime, shared fan-out
    graphql_ws_handler_class = LegacyLiveHandler  # legacy protocol: limits and auth lifetime

    def __init__(self, schema: Any, container: Container, settings: Settings, live: LiveConnections) -> None:
        protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
        if settings.legacy_graphql_ws:
            protocols.append(GRAPHQL_WS_PROTOCOL)
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
            keep_alive=True,
            keep_alive_interval=settings.ws_keepalive_s,
            subscription_protocols=protocols,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_s),
            max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
            # Cross-site WebSocket hijacking: CORS does not cover WebSockets, so the handshake's
            # Origin is checked here (403 before accept). Same-origin pages (GraphiQL) and clients
            # without an Origin (not browsers) are always let in; other origins only when listed.
            allowed_origins=settings.cors_origins,
        )
        self.container = container
        self.settings = settings
        self.live = live  # the app's WebSocket registry; the handlers find it with LiveConnections.of(view)
        hub = container.hub
        self.responses = ResponseCache(
            ttl_s=settings.response_cache_ttl_s,
            max_entries=settings.response_cache_size,
            linked=lambda: hub.fanout.linked(),
        )
        hub.fanout.watch(self.responses.on_event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        request_id = (scope.get("state") or {}).get("request_id")
        try:
            response = await self.run(request)
        except _CachedAnswer as hit:
            response = Response(hit.body, media_type="application/json")
        except InvalidCredentials:
            response = error_response(
                401, "The bearer token is unknown, expired or revoked: sign in again.", "UNAUTHENTICATED", request_id
            )
            response.headers["www-authenticate"] = 'Bearer error="invalid_token"'
        except HTTPException as exc:
            status = 415 if exc.reason == "Unsupported content type" else exc.status_code
            response = error_response(status, exc.reason, _STATUS_CODES.get(status, "BAD_USER_INPUT"), request_id)
        await response(scope, receive, send)

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """Strawberry's, minus subscriptions: over plain HTTP they would run once and fail inside
        (an ``INTERNAL`` error and a logged traceback); a client is told where they run instead."""
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        pq = (request_data.extensions or {}).get("persistedQuery")
        if pq is not None:  # Apollo APQ (GET and POST): the text by hash, or PersistedQueryNotFound
            resolved = persisted.resolve(self.container.persisted_queries, pq, request_data.query)
            if isinstance(resolved, ExecutionResult):
                return resolved
            request_data = replace(request_data, query=resolved)
        _PENDING.set(None)
        viewer, query, shape = context.viewer, request_data.query, None
        if viewer is not None and isinstance(query, str):
            digest = document_hash(query)
            shape = self.responses.shape(digest, query, request_data.operation_name)
            if shape == "cacheable" and self.responses.enabled:
                body, lookup = self.responses.lookup(
                    viewer.session_id, viewer.user_id, digest, request_data.operation_name, request_data.variables
                )
                if body is not None:
                    raise _CachedAnswer(body)
                _PENDING.set(lookup)
        try:
            return await self._execute(request_adapter, context, root_value, request_data, allowed)
        finally:
            if shape == "mutation" and viewer is not None:
                await self._data_changed(viewer.user_id)

    async def _data_changed(self, user_id: str) -> None:
        """After a mutation: every process's cached answers for the user are stale; the event has
        reached Redis before we answer, so the client's next read cannot find the older answer."""
        hub = self.container.hub
        await hub.publish(Event(type=DATA_CHANGED, user_id=None, subject=user_id, payload={}))
        await hub.flush()

    async def _execute(
        self, request_adapter: Any, context: Context, root_value: Any, request_data: Any, allowed: Any
    ) -> ExecutionResult:
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise HTTPException(400, SUBSCRIPTIONS_OVER_WS) from None
            raise HTTPException(400, exc.as_http_error_reason(request_adapter.method)) from None
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from None
        except MissingQueryError:
            raise HTTPException(400, "No GraphQL query found in the request") from None

    def encode_json(self, data: object) -> bytes:
        return jsonfast.dumps_bytes(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        lookup = _PENDING.get()
        if lookup is not None:
            _PENDING.set(None)
            if (
                response.status_code == 200
                and isinstance(response_data, dict)
                and not response_data.get("errors")
                and not sub_response.headers.raw
                and sub_response.background is None
            ):
                self.responses.store(lookup, bytes(response.body))
        return response

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A GET carrying a persisted query's hash (no ``query``) is an operation, not the IDE."""
        if request.method == "GET" and request.query_params.get("extensions") is not None:
            return False
        return bool(super().should_render_graphql_ide(request))

    def parse_json(self, data: str | bytes) -> Any:
        """A body (or GET ``variables``) that is JSON but not an object is a 400, not a crash."""
        value = super().parse_json(data)
        if not isinstance(value, dict | list):  # lists: Strawberry refuses batching with its own 400
            raise HTTPException(400, 'The request body must be a JSON object: {"query": ..., "variables": {...}}.')
        return value

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        ctx = Context(container=self.container, request=request, response=response)
        if isinstance(request, Request):
            auth = await authenticate(self.container.accounts, request.headers.get("authorization") or None)
            if auth is not None:
                ctx.viewer, ctx.token = auth.viewer, auth.token
        return ctx

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """Authenticate from the ``connection_init`` payload: ``{"authorization": "Bearer <token>"}``."""
        params = context.connection_params or {}
        credential = params.get("authorization") or params.get("Authorization")
        try:
            auth = await authenticate(self.container.accounts, credential)
        except InvalidCredentials:
            raise ConnectionRejectionError({"message": "invalid or expired token", "code": "UNAUTHENTICATED"}) from None
        if auth is not None:  # else anonymous: only public subscriptions will work
            context.viewer, context.token = auth.viewer, auth.token
        return None

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_page(request.url.path))


def live_subscription_count(live: LiveConnections) -> int:
    """Running subscriptions on this app's WebSocket connections (for the metrics sampler)."""
    return sum(len(handler.operations) for handler in list(live.all))
