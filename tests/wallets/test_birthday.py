"""importWallet(birthday): the date a node-side rescan starts from; refused outside Bitcoin's lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.server import GraphQLClient
from tests.wallets.helpers import IMPORT, error

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
COUNT = "{ wallets { totalCount } }"


async def test_birthday_is_stored_shown_and_checked(any_engine: str, gql: GraphQLClient, user_token: str) -> None:
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    for bad in [tomorrow, "2009-01-02"]:
        body = await gql(IMPORT, {"i": {"name": "W", "network": "MAINNET", "source": ZPUB, "birthday": bad}},
                         expect_errors=True)
        err = error(body)
        assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == "birthday", err
        assert (await gql(COUNT))["data"]["wallets"]["totalCount"] == 0  # nothing stored

    q = IMPORT.replace("importWallet(input: $i) {", "importWallet(input: $i) { birthday")
    made = await gql(q, {"i": {"name": "W", "network": "MAINNET", "source": ZPUB, "birthday": "2021-03-14"}})
    assert made["data"]["importWallet"]["birthday"] == "2021-03-14"
    listed = await gql("{ wallets { edges { node { birthday } } } }")
    assert [e["node"]["birthday"] for e in listed["data"]["wallets"]["edges"]] == ["2021-03-14"]
