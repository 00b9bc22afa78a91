"""Tracing against a local OTLP/HTTP collector stand-in: real GraphQL traffic, a sync on the dev chain
and an LND node produce linked spans carrying the request id; off by default."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.dev.devchain.runner import DevChain
from app.dev.devlnd import DevLnd
from app.observability import tracing
from tests.conftest import make_settings
from tests.lightning.test_graphql import connect
from tests.observability.otlp_collector import Collector, ReceivedSpan, running_collector
from tests.support.server import GraphQLClient, live_server
from tests.sync.test_api import IMPORT, wait_status


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    with running_collector() as c:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.url)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "mbf-test")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        yield c


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as c:
        yield c


def _named(spans: list[ReceivedSpan], prefix: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


async def test_spans_reach_the_collector(
    collector: Collector, tmp_path: Path, database_url: str, chain: DevChain
) -> None:
    settings = make_settings(
        tmp_path, database_url, regtest_esplora_url=chain.esplora_url, sync_interval_s=3600, trace_resolver_min_ms=0
    )
    async with live_server(settings) as srv:
        assert tracing.enabled()
        gql = GraphQLClient(srv.url)
        try:
            gql.token = await gql.register("t@example.com")
            # One operation with our request id and a W3C parent from the caller. It reads the wallet list:
            # the viewer alone may be answered from the session cache without touching the store.
            parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
            response = await gql.http.post(
                "/graphql",
                json={"query": "query Mine { viewer { id email } wallets(first: 1) { totalCount } }"},
                headers={
                    "authorization": f"Bearer {gql.token}",
                    "x-request-id": "req-trace-1",
                    "traceparent": f"00-{parent_trace}-00f067aa0ba902b7-01",
                },
            )
            assert response.json()["data"]["viewer"]["email"] == "t@example.com"
            # A sync against the dev chain, and an LND node.
            w = chain.info["wallets"][0]
            body = await gql(IMPORT, {"i": {"name": "t", "source": w["descriptor"], "network": "REGTEST"}})
            assert (await wait_status(gql, body["data"]["importWallet"]["id"]))["syncStatus"] == "SYNCED"
            async with DevLnd.start(seed=3) as node:
                await connect(gql, node)
        finally:
            await gql.aclose()

        spans = await collector.wait_for(
            lambda s: bool(_named(s, "graphql query Mine") and _named(s, "chain.request") and _named(s, "lnd.call"))
        )
    assert not tracing.enabled()  # the app stopped: provider flushed and gone
    # Everything is exported now: read it all again (the wait above ended on the first spans of each
    # kind; the mutation's own span may have been exported in a later batch than its GetInfo).
    spans = await collector.wait_for(_mutation_called_lnd)

    op = _named(spans, "graphql query Mine")[0]
    assert op.trace_id == parent_trace  # continues the caller's trace
    assert op.attributes["mbf.request_id"] == "req-trace-1"
    assert op.attributes["graphql.operation.type"] == "query" and op.attributes["graphql.errors"] == 0
    assert op.resource["service.name"] == "mbf-test"
    children = [s for s in spans if s.parent_span_id == op.span_id]
    names = {s.name for s in children}
    assert "resolve Query.viewer" in names, names  # resolver spans (threshold 0 here)
    db = [s for s in spans if s.trace_id == op.trace_id and s.name.startswith("db ")]
    assert db and all(s.attributes["db.system"] == "sqlite" for s in db)
    assert all(s.attributes.get("mbf.request_id") == "req-trace-1" for s in db)
    assert not any("t@example.com" in str(s.attributes.get("db.statement")) for s in db)  # no parameters

    chain_spans = _named(spans, "chain.request")
    assert chain_spans[0].attributes["server"].startswith("http://127.0.0.1:")
    lnd = _named(spans, "lnd.call")
    assert any(s.attributes["rpc.method"] == "GetInfo" for s in lnd)
    connect_ops = [s for s in spans if s.name.startswith("graphql mutation")]
    # LND calls inside the mutation's trace (the node's streams start afterwards, in their own traces,
    # and may be exported first: compare with every GetInfo, not the first LND span)
    getinfo_traces = {s.trace_id for s in lnd if s.attributes["rpc.method"] == "GetInfo"}
    assert any(s.trace_id in getinfo_traces for s in connect_ops)
    assert collector.requests[0]["content-type"] == "application/x-protobuf"


async def test_tracing_is_off_by_default(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    async with live_server(make_settings(tmp_path, database_url)) as srv:
        assert not tracing.enabled()
        async with httpx.AsyncClient(base_url=srv.url) as client:
            assert (await client.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_configured_by_standard_variables(env: dict[str, Any], expected: bool) -> None:
    assert tracing.configured(env) is expected


def _mutation_called_lnd(spans: list[ReceivedSpan]) -> bool:
    """A connect mutation's trace holds an LND GetInfo call (the node is checked before it is saved)."""
    getinfo = {s.trace_id for s in spans if s.name == "lnd.call" and s.attributes.get("rpc.method") == "GetInfo"}
    return any(s.trace_id in getinfo for s in spans if s.name.startswith("graphql mutation"))
