"""A frontend on another origin: CORS on /graphql from MBF_CORS_ORIGINS, the WebSocket handshake's
Origin checked against the same list, and subscriptions sent over plain HTTP refused with a 400."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.config import ConfigError, load_settings
from tests.subscriptions.wsclient import TRANSPORT_WS
from tests.support.server import LiveServer

APP = "http://localhost:5173"
EVIL = "http://evil.example"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cors_origins": [APP, "https://app.example.com"], "cors_max_age_s": 900}


def preflight(origin: str, headers: str = "authorization,content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": headers}


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "http://localhost:5173",
        "http://localhost:5173, https://app.example.com",
        '["http://localhost:5173", "https://app.example.com"]',
    ],
)
def test_origins_from_a_plain_string_a_comma_list_or_json(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MBF_CORS_ORIGINS", raw)
    origins = load_settings(_env_file=None).cors_origins
    assert origins[0] == APP and len(origins) == raw.count(",") + 1


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("http://localhost:5173/", "'http://localhost:5173/'"),  # a trailing slash never matches an Origin
        ("localhost:5173", "'localhost:5173'"),
        ("http://localhost:5173,*", "'*'"),
        ("https://app.example.com/path", "'https://app.example.com/path'"),
        ('["http://a.example", 1', "not a JSON list"),
    ],
)
def test_a_bad_origin_is_named_in_one_line(raw: str, named: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MBF_CORS_ORIGINS", raw)
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    lines = str(err.value).splitlines()
    assert lines[0] == "Invalid configuration:" and len(lines) == 2, lines
    assert lines[1].strip().startswith("MBF_CORS_ORIGINS:") and named in lines[1], lines


# -- HTTP --------------------------------------------------------------------------------------


async def test_preflight_from_an_allowed_origin_is_answered_and_cached(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.options("/graphql", headers=preflight(APP))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-max-age"] == "900"
    assert "access-control-allow-credentials" not in r.headers  # bearer tokens, never cookies


async def test_preflight_from_another_origin_is_refused(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.options("/graphql", headers=preflight(EVIL))
        post = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": EVIL})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    # The server still answers (CORS is enforced by the browser), without the header that lets it read it.
    assert post.status_code == 200 and "access-control-allow-origin" not in post.headers


async def test_responses_to_an_allowed_origin_carry_the_header_errors_included(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        ok = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP})
        bad_token = await http.post(
            "/graphql",
            json={"query": "{ viewer { id } }"},
            headers={"Origin": APP, "Authorization": "Bearer nope"},
        )
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == APP
    # A frontend must be able to read a 401 to send its user to the sign-in page.
    assert bad_token.status_code == 401 and bad_token.headers["access-control-allow-origin"] == APP
    assert "x-request-id" in ok.headers["access-control-expose-headers"].lower()


async def test_without_origins_configured_there_is_no_cors(tmp_path: Any, database_url: str) -> None:
    from tests.conftest import make_settings
    from tests.support.server import live_server

    async with (
        live_server(make_settings(tmp_path, database_url)) as srv,
        httpx.AsyncClient(base_url=srv.url) as http,
    ):
        r = await http.options("/graphql", headers=preflight(APP))
        post = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP})
        # WebSockets from other origins stay refused; the server's own pages and non-browsers are not.
        assert await handshake(srv, APP) == 403
        assert await handshake(srv, srv.url) == 101 and await handshake(srv, None) == 101
    assert r.status_code == 405 and "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in post.headers


# -- WebSocket ---------------------------------------------------------------------------------


async def handshake(server: Any, origin: str | None) -> int:
    """101 when the upgrade is accepted, else the HTTP status it was refused with."""
    try:
        ws = await connect(server.ws_url, subprotocols=[TRANSPORT_WS], origin=origin)  # type: ignore[arg-type,list-item]
    except InvalidStatus as exc:
        return exc.response.status_code
    await ws.close()
    return 101


async def test_websocket_origin_is_checked_against_the_same_list(server: LiveServer) -> None:
    assert await handshake(server, APP) == 101
    assert await handshake(server, "https://app.example.com") == 101
    assert await handshake(server, EVIL) == 403  # cross-site WebSocket hijacking
    assert await handshake(server, "http://localhost:5174") == 403
    assert await handshake(server, None) == 101  # not a browser (CLI, another server)
    assert await handshake(server, server.url) == 101  # the server's own pages (GraphiQL)


# -- subscriptions over HTTP --------------------------------------------------------------------

SUBSCRIPTION = 'subscription { priceUpdated(currency: "USD") { currency value } }'


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_subscription_over_http_is_a_400_pointing_at_the_websocket(
    server: LiveServer, method: str, capfd: pytest.CaptureFixture[str]
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        if method == "POST":
            r = await http.post("/graphql", json={"query": SUBSCRIPTION})
        else:
            r = await http.get("/graphql", params={"query": SUBSCRIPTION})
        named = await http.post(
            "/graphql",
            json={
                "query": f"query Q {{ __typename }} {SUBSCRIPTION.replace('subscription', 'subscription S')}",
                "operationName": "S",
            },
        )
        query = await http.post(
            "/graphql",
            json={
                "query": f"query Q {{ __typename }} {SUBSCRIPTION.replace('subscription', 'subscription S')}",
                "operationName": "Q",
            },
        )
    for resp in (r, named):
        assert resp.status_code == 400, resp.text
        error = resp.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["message"] == "subscriptions run over WebSocket: graphql-transport-ws at /graphql"
    assert query.status_code == 200 and query.json()["data"] == {"__typename": "Query"}
    err = capfd.readouterr().err
    assert "Traceback" not in err and "graphql_internal_error" not in err


async def test_mutations_over_get_are_still_refused(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/graphql", params={"query": "mutation { logout }"})
    assert r.status_code == 400 and "mutations are not allowed" in r.json()["errors"][0]["message"]
