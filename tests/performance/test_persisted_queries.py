"""Documents parsed and validated once, and Apollo's automatic persisted queries, over real HTTP as
apollo-link-persisted-queries sends them (POST, and GET for hashed queries)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry.schema.schema as strawberry_schema

from app.persisted_queries import add_to_manifest
from tests.support.server import GraphQLClient, LiveServer

VIEWER = "query Me { viewer { id email } }"
PAGE = "query Page($n: Int) { wallets(first: $n) { totalCount edges { node { id name } } } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(text)}}


async def post(gql: GraphQLClient, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {gql.token}"} if gql.token else {}
    return await gql.http.post("/graphql", json=body, headers=headers)


async def get(gql: GraphQLClient, params: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {gql.token}"} if gql.token else {}
    query = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return await gql.http.get("/graphql", params=query, headers=headers)


def not_found(r: httpx.Response) -> bool:
    errors = r.json().get("errors") or []
    return (
        r.status_code == 200
        and len(errors) == 1
        and errors[0]["message"] == "PersistedQueryNotFound"
        and errors[0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    )


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often graphql-core parses and validates (the server runs in this process)."""
    calls = {"parse": 0, "validate": 0}
    real_parse, real_validate = strawberry_schema.parse, strawberry_schema.validate

    def parse(*args: Any, **kw: Any) -> Any:
        calls["parse"] += 1
        return real_parse(*args, **kw)

    def validate(*args: Any, **kw: Any) -> Any:
        calls["validate"] += 1
        return real_validate(*args, **kw)

    monkeypatch.setattr(strawberry_schema, "parse", parse)
    monkeypatch.setattr(strawberry_schema, "validate", validate)
    return calls


async def test_apollo_flow_over_post(gql: GraphQLClient, user_token: str, counted: dict[str, int]) -> None:
    # 1. The link sends the hash only: unknown.
    first = await post(gql, {"operationName": "Me", "variables": {}, "extensions": apq(VIEWER)})
    assert not_found(first), first.text
    # 2. It sends the query with the hash: run and registered.
    second = await post(gql, {"operationName": "Me", "variables": {}, "query": VIEWER, "extensions": apq(VIEWER)})
    assert second.status_code == 200 and second.json()["data"]["viewer"]["email"], second.text
    # 3. From now on the hash alone is enough, and the document is neither parsed nor validated again.
    before = dict(counted)
    for _ in range(3):
        again = await post(gql, {"operationName": "Me", "variables": {}, "extensions": apq(VIEWER)})
        assert again.json()["data"] == second.json()["data"]
        assert again.json()["extensions"]["cost"]["requested"] > 0  # the query limits still ran
    assert counted == before


async def test_apollo_flow_over_get(gql: GraphQLClient, user_token: str) -> None:
    params = {"operationName": "Me", "variables": {}, "extensions": apq(VIEWER)}
    assert not_found(await get(gql, params))
    r = await get(gql, {**params, "query": VIEWER})
    assert r.status_code == 200 and r.json()["data"]["viewer"]["id"]
    assert (await get(gql, params)).json()["data"] == r.json()["data"]
    # A mutation is not run over GET, by hash or not.
    logout = "mutation Out { logout }"
    refused = await get(gql, {"query": logout, "extensions": apq(logout)})
    assert refused.status_code in (400, 405)
    assert (await post(gql, {"query": VIEWER})).json()["data"]["viewer"]  # still signed in


async def test_hash_mismatch_and_bad_extensions_are_refused(gql: GraphQLClient, user_token: str) -> None:
    wrong = await post(gql, {"query": VIEWER, "extensions": apq("{ __typename }")})
    assert wrong.status_code == 400
    err = wrong.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and "sha" in err["message"]
    # Nothing was registered under the wrong hash.
    assert not_found(await post(gql, {"extensions": apq("{ __typename }")}))
    for bad in ({"version": 2, "sha256Hash": sha(VIEWER)}, {"version": 1, "sha256Hash": "xyz"}, "nope"):
        r = await post(gql, {"extensions": {"persistedQuery": bad}})
        assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_limits_still_refuse_a_cached_document(
    gql: GraphQLClient, user_token: str, counted: dict[str, int]
) -> None:
    small = await post(gql, {"query": PAGE, "variables": {"n": 5}})
    assert small.json()["data"]["wallets"]["totalCount"] == 0
    cost = small.json()["extensions"]["cost"]["requested"]
    validated = counted["validate"]
    # The same document (now cached) with a page size over the budget: refused, nothing executed.
    big = await post(gql, {"query": PAGE, "variables": {"n": 100_000}})
    body = big.json()
    assert body.get("data") is None and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "budget" in body["errors"][0]["message"]
    assert body["extensions"]["cost"]["requested"] > cost
    # And an over-long string input is still refused with its field name.
    rename = 'mutation($n: String!) { renameWallet(id: "x", name: $n) { id } }'
    for _ in range(2):
        r = (await post(gql, {"query": rename, "variables": {"n": "x" * 500}})).json()
        assert r["errors"][0]["extensions"]["field"] == "name"
    ok = await post(gql, {"query": PAGE, "variables": {"n": 5}})
    assert ok.json()["data"] == small.json()["data"]
    assert counted["validate"] == validated  # the cached document was not validated again
    # An invalid document is refused every time (never cached as valid).
    for _ in range(2):
        r = (await post(gql, {"query": "{ viewer { nope } }"})).json()
        assert r["errors"][0]["extensions"]["code"] in ("BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED")


@pytest.fixture
def settings_overrides(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    if "only_mode" not in request.node.name:
        return {}
    path = tmp_path / "allow.json"
    add_to_manifest(path, [("Me", VIEWER)])
    return {"persisted_queries": "only", "persisted_queries_file": path}


async def test_only_mode_runs_allow_listed_documents_only(server: LiveServer, gql: GraphQLClient) -> None:
    register = "mutation($i: RegisterInput!) { register(input: $i) { token } }"
    # Registering is not on the list: refused, by text and by APQ alike.
    r = (
        await post(gql, {"query": register, "variables": {"i": {"email": "x@example.com", "password": "p" * 12}}})
    ).json()
    assert r["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED" and r.get("data") is None
    r = (await post(gql, {"query": register, "extensions": apq(register), "variables": {}})).json()
    assert r["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
    assert not_found(await post(gql, {"extensions": apq(register)}))  # nothing was registered
    assert await server.container.accounts._has_users() is False
    # The listed document runs by hash (never sent as text before) and as text.
    by_hash = (await post(gql, {"extensions": apq(VIEWER), "operationName": "Me"})).json()
    assert by_hash["data"] == {"viewer": None}
    assert (await post(gql, {"query": VIEWER})).json()["data"] == {"viewer": None}


def test_cli_adds_documents_to_the_allow_list(tmp_path: Path) -> None:
    import subprocess

    from app.persisted_queries import read_manifest
    from tests.foundation.test_cli_process import MBF, ROOT, _env

    doc = tmp_path / "Me.graphql"
    doc.write_text(VIEWER)
    env = _env(tmp_path, MBF_PERSISTED_QUERIES="only")
    added = subprocess.run([*MBF, "documents", "add", str(doc)], env=env, cwd=ROOT, capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    assert added.stdout.split() == [sha(VIEWER), "Me"]
    listed = subprocess.run([*MBF, "documents", "list", "--json"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert json.loads(listed.stdout) == {"id": sha(VIEWER), "body": VIEWER}
    assert read_manifest(tmp_path / "data" / "persisted-queries.json") == {sha(VIEWER): VIEWER}
    missing = subprocess.run(
        [*MBF, "documents", "add", str(tmp_path / "nope.graphql")], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr
