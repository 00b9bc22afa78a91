"""``mbf serve --workers 2``: workers share live events through Redis; without Redis the server
refuses to start (each worker would have its own hub, and events, revocations and cache
invalidations published in one would never reach the other)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.foundation.test_cli_process import MBF, ROOT
from tests.performance.procs import mbf_serve, serve_env
from tests.subscriptions.wsclient import WS
from tests.support.server import GraphQLClient
from tests.support.services import REDIS_URL, require

pytestmark = pytest.mark.slow

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
RENAME = "mutation($id: ID!, $n: String!) { renameWallet(id: $id, name: $n) { name } }"
LIVE = "subscription($id: ID!) { walletUpdated(walletId: $id) { change walletId } }"


def test_several_workers_without_redis_refuse_to_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [*MBF, "serve", "--workers", "2"], env=serve_env(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "MBF_REDIS_URL" in lines[0], done.stderr


async def test_two_workers_deliver_every_event_to_a_subscriber(tmp_path: Path) -> None:
    require("redis")
    # The chain is a closed port: the wallet's background sync fails quietly, renames do not care.
    env = serve_env(tmp_path, MBF_REDIS_URL=REDIS_URL, MBF_ESPLORA_URL="http://127.0.0.1:9")
    async with mbf_serve(tmp_path, env, "--workers", "2") as base:
        gql = GraphQLClient(base)
        try:
            token = await gql.register("w@example.com")
            wallet = (await gql(IMPORT, {"i": {"name": "W", "network": "MAINNET", "source": ZPUB}}, token=token))[
                "data"
            ]["importWallet"]["id"]
            ws = await WS.open(base.replace("http", "ws") + "/graphql")
            try:
                assert (await ws.init(token))["type"] == "connection_ack"
                await ws.subscribe("1", LIVE, {"id": wallet})
                # A probe rename until the subscription is live (it starts asynchronously).
                for attempt in range(50):
                    await gql(RENAME, {"id": wallet, "n": f"probe {attempt}"}, token=token)
                    try:
                        msg = await ws.recv(wait_s=1)
                    except TimeoutError:
                        continue
                    assert msg["type"] == "next", msg
                    break
                else:
                    raise AssertionError("the subscription never received anything")
                while True:  # drain the probes' events
                    try:
                        await ws.recv(wait_s=1)
                    except TimeoutError:
                        break
                # Ten renames, each on a new connection so the kernel spreads them over both workers.
                for i in range(10):
                    async with httpx.AsyncClient(base_url=base, timeout=10) as one:
                        r = await one.post(
                            "/graphql",
                            json={"query": RENAME, "variables": {"id": wallet, "n": f"name {i}"}},
                            headers={"authorization": f"Bearer {token}"},
                        )
                        assert r.json()["data"]["renameWallet"]["name"] == f"name {i}"
                renamed = 0
                while renamed < 10:
                    msg = await ws.recv(wait_s=15)
                    assert msg["type"] == "next", msg
                    if msg["payload"]["data"]["walletUpdated"]["change"] == "RENAMED":
                        renamed += 1
                assert renamed == 10
            finally:
                await ws.close()
        finally:
            await gql.aclose()
