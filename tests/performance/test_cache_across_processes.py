"""Two real ``mbf serve`` processes on Redis sharing a database: a change made through one is
never answered with the older cached answer by the other."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.performance.procs import mbf_serve, serve_env
from tests.support.server import GraphQLClient
from tests.support.services import REDIS_URL, require

pytestmark = pytest.mark.slow

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
RENAME = "mutation($id: ID!, $n: String!) { renameWallet(id: $id, name: $n) { name } }"
NAMES = "query Names { wallets(first: 20) { edges { node { name } } } }"


async def test_read_after_write_across_two_processes(tmp_path: Path) -> None:
    require("redis")
    env = serve_env(tmp_path, MBF_REDIS_URL=REDIS_URL, MBF_ESPLORA_URL="http://127.0.0.1:9")
    async with mbf_serve(tmp_path, env, name="a") as url_a, mbf_serve(tmp_path, env, name="b") as url_b:
        a, b = GraphQLClient(url_a), GraphQLClient(url_b)
        try:
            a.token = b.token = await a.register("cache@example.com")
            wallet = (await a(IMPORT, {"i": {"name": "n0", "network": "MAINNET", "source": ZPUB}}))["data"][
                "importWallet"
            ]["id"]

            async def names(client: GraphQLClient) -> list[str]:
                body = await client(NAMES)
                return [e["node"]["name"] for e in body["data"]["wallets"]["edges"]]

            for i in range(1, 16):
                writer, reader = (a, b) if i % 2 else (b, a)
                before = await names(reader)
                assert before == await names(reader)  # now in the reader's cache
                await writer(RENAME, {"id": wallet, "n": f"n{i}"})
                assert await names(reader) == [f"n{i}"], f"step {i}: the other process answered {before}"
                assert await names(writer) == [f"n{i}"]
        finally:
            await a.aclose()
            await b.aclose()
