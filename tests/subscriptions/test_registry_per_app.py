"""The WebSocket registry belongs to the app the composition root built, not to the process."""

from __future__ import annotations

from starlette.routing import WebSocketRoute

from app.config import Settings
from app.container import Container
from app.main import create_app
from subscriptions.registry import LiveConnections


def test_each_app_has_its_own_registry_handed_to_its_graphql_view(settings: Settings) -> None:
    container = Container(settings)
    first, second = create_app(settings, container), create_app(settings, container)
    assert isinstance(first.state.live, LiveConnections)
    # Two apps on one container (tests, --reload) never share connections, limits or sweepers.
    assert first.state.live is not second.state.live
    for app in (first, second):
        view = next(r.app for r in app.routes if isinstance(r, WebSocketRoute) and r.path == "/graphql")
        assert LiveConnections.of(view) is app.state.live
        assert app.state.live.container is container
