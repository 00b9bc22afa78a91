"""/readyz tells every probe whether the server is ready, and only an admin what it runs on."""

from __future__ import annotations

from tests.support.server import GraphQLClient


async def test_only_an_admin_sees_readiness_details(gql: GraphQLClient) -> None:
    admin = await gql.register("root@example.com")  # the first account is the admin
    user = await gql.register("bob@example.com")

    async def components(header: str | None) -> dict[str, dict[str, object]]:
        r = await gql.http.get("/readyz", headers={"authorization": header} if header else {})
        assert r.status_code == 200 and r.json()["status"] == "ready"
        parts: dict[str, dict[str, object]] = r.json()["components"]
        return parts

    for header in (None, f"Bearer {user}", "Bearer mbf_not_a_token", "Basic Zm9vOmJhcg=="):
        parts = await components(header)
        assert parts["database"] == {"status": "ok"}, header  # no engine, counts, ids or error names
        assert all(set(part) == {"status"} for part in parts.values()), (header, parts)

    details = await components(f"Bearer {admin}")
    assert details["database"] == {"status": "ok", "engine": "sqlite"}
    assert "backend" in details["events"] and "subscribers" in details["events"]
