"""Security headers on every HTTP response (pure ASGI middleware).

``nosniff``, no framing (CSP ``frame-ancestors 'none'`` and ``X-Frame-Options``), no referrer, and
``Cache-Control: no-store`` on everything but the versioned GraphiQL assets: GraphQL answers, report
downloads and health data are per-user or operational and must not sit in shared caches.
A header the app set itself is kept.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, cacheable_prefix: str = "/static/") -> None:
        self.app = app
        self.cacheable_prefix = cacheable_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith(self.cacheable_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                wanted = HEADERS if cacheable else (*HEADERS, NO_STORE)
                headers.extend(h for h in wanted if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
