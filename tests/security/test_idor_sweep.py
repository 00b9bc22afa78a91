"""IDOR sweep generated from the schema: every query, mutation and subscription field that takes an
``ID`` (as an argument or inside an input object) is called by Bob with each of Alice's ids and must
answer ``NOT_FOUND`` — never her data, never ``FORBIDDEN`` — and change nothing of hers.

The fields come from introspection, so a field added later is swept without writing a test; the
sweep fails if it finds an ID-taking field it cannot call at all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from graphql import get_introspection_query

from app.dev.devlnd import DevLnd
from tests.support.server import GraphQLClient, LiveServer

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
SCALARS: dict[str, Any] = {
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "Sats": 1000,
    "MilliSats": "1000000",
    "Decimal": "1",
    "Date": "2024-01-02",
    "DateTime": "2024-01-02T00:00:00Z",
    "JSON": {},
}


def _unwrap(ref: dict[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    """(named type ref, non-null, list)."""
    non_null = ref["kind"] == "NON_NULL"
    is_list = False
    while ref.get("ofType"):
        is_list = is_list or ref["kind"] == "LIST"
        ref = ref["ofType"]
    return ref, non_null, is_list


def _type_string(ref: dict[str, Any]) -> str:
    if ref["kind"] == "NON_NULL":
        return _type_string(ref["ofType"]) + "!"
    if ref["kind"] == "LIST":
        return f"[{_type_string(ref['ofType'])}]"
    return str(ref["name"])


class Sweep:
    def __init__(self, types: dict[str, dict[str, Any]]) -> None:
        self.types = types

    def takes_id(self, ref: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
        named, _, _ = _unwrap(ref)
        if named["name"] == "ID":
            return True
        t = self.types[named["name"]]
        if t["kind"] == "INPUT_OBJECT" and named["name"] not in seen:
            return any(self.takes_id(f["type"], seen | {named["name"]}) for f in t["inputFields"])
        return False

    def value(self, ref: dict[str, Any], victim_id: str, name: str = "") -> Any:
        named, _, is_list = _unwrap(ref)
        t = self.types[named["name"]]
        if named["name"] == "ID":
            v: Any = victim_id
        elif named["name"] == "String" and "urrency" in name:
            v = "USD"
        elif t["kind"] == "ENUM":
            v = t["enumValues"][0]["name"]
        elif t["kind"] == "INPUT_OBJECT":
            v = {
                f["name"]: self.value(f["type"], victim_id, f["name"])
                for f in t["inputFields"]
                if f["type"]["kind"] == "NON_NULL" or self.takes_id(f["type"])
            }
        else:
            v = SCALARS.get(named["name"], "x")
        return [v] if is_list else v

    def selection(self, ref: dict[str, Any]) -> str:
        named, _, _ = _unwrap(ref)
        kind = self.types[named["name"]]["kind"]
        return " { __typename }" if kind in ("OBJECT", "INTERFACE", "UNION") else ""

    def operations(self, root: str, op: str, victim_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        out = []
        for f in self.types[root]["fields"]:
            id_args = [a for a in f["args"] if self.takes_id(a["type"])]
            if not id_args:
                continue
            args = [a for a in f["args"] if a["type"]["kind"] == "NON_NULL" or a in id_args]
            decl = ", ".join(f"${a['name']}: {_type_string(a['type'])}" for a in args)
            call = ", ".join(f"{a['name']}: ${a['name']}" for a in args)
            variables = {a["name"]: self.value(a["type"], victim_id, a["name"]) for a in args}
            doc = f"{op}({decl}) {{ {f['name']}({call}){self.selection(f['type'])} }}"
            out.append((f["name"], doc, variables))
        return out


async def _alice_objects(gql: GraphQLClient, devlnd: DevLnd) -> dict[str, str]:
    ids: dict[str, str] = {}
    w = await gql(
        "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
        {"i": {"name": "alice wallet", "source": ZPUB, "network": "MAINNET"}},
    )
    ids["wallet"] = w["data"]["importWallet"]["id"]
    p = await gql(
        "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
        {"i": {"name": "alice portfolio", "walletIds": [ids["wallet"]]}},
    )
    ids["portfolio"] = p["data"]["createPortfolio"]["id"]
    r = await gql(
        "mutation($i: GenerateReportInput!) { generateReport(input: $i) { id } }",
        {"i": {"portfolioId": ids["portfolio"], "format": "CSV"}},
    )
    ids["report"] = r["data"]["generateReport"]["id"]
    j = await gql("mutation($id: ID!) { syncWallet(id: $id) { id } }", {"id": ids["wallet"]}, expect_errors=True)
    if (j.get("data") or {}).get("syncWallet"):
        ids["syncJob"] = j["data"]["syncWallet"]["id"]
    n = await gql(
        "mutation($i: ConnectLightningNodeInput!) { connectLightningNode(input: $i) { id } }",
        {
            "i": {
                "name": "alice node",
                "host": devlnd.host,
                "port": devlnd.port,
                "tlsCert": devlnd.tls_cert_pem,
                "macaroon": devlnd.macaroons["admin"],
                "network": "REGTEST",
            }
        },
    )
    ids["node"] = n["data"]["connectLightningNode"]["id"]
    return ids


@pytest.fixture
async def devlnd() -> AsyncIterator[DevLnd]:
    async with DevLnd.start(seed=7) as node:
        yield node


ALICE_STATE = """{ wallets { totalCount edges { node { id name } } } portfolios { id name }
  lightningNodes { id name } reports { totalCount } }"""


async def test_every_id_field_answers_not_found_to_another_user(
    server: LiveServer, gql: GraphQLClient, devlnd: DevLnd
) -> None:
    alice = await gql.register("alice@example.com")
    gql.token = alice
    ids = await _alice_objects(gql, devlnd)
    before = await gql(ALICE_STATE)
    bob = await gql.register("bob@example.com")

    schema = (await gql(get_introspection_query()))["data"]["__schema"]
    types = {t["name"]: t for t in schema["types"]}
    sweep = Sweep(types)
    roots = [("query", schema["queryType"]["name"]), ("mutation", schema["mutationType"]["name"])]
    swept: set[str] = set()
    failures: list[str] = []
    for op, root in roots:
        for victim_kind, victim_id in ids.items():
            for name, doc, variables in sweep.operations(root, op, victim_id):
                body = await gql(doc, variables, token=bob, expect_errors=True)
                codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
                data = (body.get("data") or {}).get(name)
                leaked = victim_id in json.dumps(body.get("data")) or "alice" in json.dumps(body)
                swept.add(name)
                # The same call with an id that exists nowhere must look exactly the same (no oracle).
                unknown = json.loads(json.dumps(variables).replace(victim_id, "01UNKNOWN0000000000000000"))
                control = await gql(doc, unknown, token=bob, expect_errors=True)
                if leaked or "INTERNAL" in codes:
                    failures.append(f"{op} {name} with Alice's {victim_kind}: {body}")
                elif _shape(body, victim_id) != _shape(control, "01UNKNOWN0000000000000000"):
                    failures.append(f"{op} {name}: Alice's {victim_kind} answers {body}, an unknown id {control}")
                elif codes == ["FORBIDDEN"]:
                    continue  # a role check (admin-only) before any object is looked at: same for every id
                elif data not in (None, False, 0, []) or "NOT_FOUND" not in codes:
                    # Refused for another reason (bad placeholder input) is not proof of isolation.
                    failures.append(f"{op} {name} with Alice's {victim_kind} did not answer NOT_FOUND: {body}")
    subscription_root = schema.get("subscriptionType")
    if subscription_root:
        for victim_kind, victim_id in ids.items():
            for name, doc, variables in sweep.operations(subscription_root["name"], "subscription", victim_id):
                swept.add(name)
                codes = await _subscribe(server.ws_url, bob, doc, variables)
                if codes != ["NOT_FOUND"]:
                    failures.append(f"subscription {name} with Alice's {victim_kind}: {codes}")
    assert not failures, "\n".join(failures)
    assert {"wallet", "portfolio", "lightningNode", "report", "deleteWallet", "walletUpdated"} <= swept
    gql.token = alice
    assert await gql(ALICE_STATE) == before, "Bob's attempts changed nothing of Alice's"


def _shape(body: dict[str, Any], the_id: str) -> list[tuple[str, str]]:
    """Codes and messages, with the id that was asked for blanked (it is echoed back)."""
    return [
        (e.get("extensions", {}).get("code"), str(e.get("message")).replace(the_id, "<id>"))
        for e in body.get("errors") or []
    ]


async def _subscribe(ws_url: str, token: str, doc: str, variables: dict[str, Any]) -> list[str]:
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": doc, "variables": variables}}))
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "error":
                return [e.get("extensions", {}).get("code") for e in msg["payload"]]
            if msg["type"] == "next":
                return [e.get("extensions", {}).get("code") for e in msg["payload"].get("errors") or []]
            if msg["type"] == "complete":
                return []
