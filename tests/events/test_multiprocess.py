"""Two ``mbf serve`` processes on different ports, one database, one Redis: a mutation on one
reaches a subscriber on the other; both report the Redis hub in /readyz."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.subscriptions.wsclient import EVENTS, WS
from tests.support.services import REDIS_URL, require
from tests.support.signals import registered_at

pytestmark = [pytest.mark.redis, pytest.mark.slow]

MBF = str(Path(sys.executable).with_name("mbf"))
ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], wait_s: float = 60) -> dict[str, object]:
    deadline = time.time() + wait_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mbf serve exited with {proc.returncode}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if r.status_code == 200:
                body: dict[str, object] = r.json()
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("mbf serve did not become ready")


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[int, int, list[dict[str, object]]]]:
    require("redis")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
    env.update(
        MBF_DATA_DIR=str(tmp_path),
        MBF_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}",
        MBF_REDIS_URL=REDIS_URL,
        MBF_THROTTLE_REDIS_PREFIX=f"test-{os.urandom(6).hex()}:throttle",  # login limits not shared between runs
        MBF_SECRET_KEY="2" * 64,
        MBF_PRICE_POLL_ENABLED="false",
        MBF_LOG_LEVEL="warning",
        MBF_ESPLORA_URL="http://127.0.0.1:9",  # never reach public chain servers
        MBF_SYNC_INTERVAL_S="3600",
        MBF_CHAIN_RETRIES="0",
    )
    procs: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    ready: list[dict[str, object]] = []
    try:
        for _ in range(2):  # one after the other: the first applies the migrations
            port = free_port()
            proc = subprocess.Popen([MBF, "serve", "--port", str(port)], env=env, cwd=tmp_path)
            procs.append(proc)
            ready.append(wait_ready(port, proc))
            ports.append(port)
        yield ports[0], ports[1], ready
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def gql(port: int, query: str, token: str | None = None, **variables: object) -> dict[str, object]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=20) as c:
        r = await c.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables},
                         headers=headers)
    body: dict[str, object] = r.json()
    assert not body.get("errors"), body
    return body


async def test_a_mutation_on_one_process_reaches_a_subscriber_on_the_other(
    two_servers: tuple[int, int, list[dict[str, object]]],
) -> None:
    port_a, port_b, ready = two_servers
    for body in ready:  # anonymous probes see the status words only
        assert body["components"]["events"] == {"status": "ok"}  # type: ignore[index]

    creds = {"email": "multi@example.com", "password": "correct horse battery staple"}
    reg = await gql(port_a, "mutation($i: RegisterInput!) { register(input: $i) { token } }", i=creds)
    token1 = reg["data"]["register"]["token"]  # type: ignore[index]
    login = await gql(port_a, "mutation($i: LoginInput!) { login(input: $i) { token } }", i=creds)
    token2 = login["data"]["login"]["token"]  # type: ignore[index]
    for port in (port_a, port_b):  # the first user is the admin, who sees the details
        async with httpx.AsyncClient(timeout=20) as c:
            r = await c.get(f"http://127.0.0.1:{port}/readyz", headers={"authorization": f"Bearer {token2}"})
        events = r.json()["components"]["events"]
        assert events["backend"] == "redis" and events["status"] == "ok"

    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    watcher = await WS.open(f"ws://127.0.0.1:{port_b}/graphql")  # session 2, on process B
    assert (await watcher.init(token2))["type"] == "connection_ack"
    doomed = await WS.open(f"ws://127.0.0.1:{port_b}/graphql")  # session 1, on process B
    assert (await doomed.init(token1))["type"] == "connection_ack"
    # Same user, same live-only document: one shared execution, one hub reader on B (its /readyz).
    async with registered_at(url_b, 1, token=token2):
        await watcher.subscribe("ev", EVENTS)
        await doomed.subscribe("ev", EVENTS)

    # The mutation runs on process A ...
    assert (await gql(port_a, "mutation { logout }", token1))["data"] == {"logout": True}
    # ... its event reaches the subscriber on process B,
    msg = await watcher.recv(wait_s=15)
    assert msg["type"] == "next"
    event = msg["payload"]["data"]["events"]
    assert event["__typename"] == "SessionRevoked"
    # ... and B closes the revoked session's socket with 4403 at once.
    assert (await doomed.closed(wait_s=15))[0] == 4403

    # A wallet renamed on A reaches walletUpdated(walletId) on B.
    wallet = await gql(
        port_a,
        "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
        token2,
        i={"name": "Cold", "network": "MAINNET", "source": ZPUB},
    )
    wallet_id = wallet["data"]["importWallet"]["id"]  # type: ignore[index]
    typed = await WS.open(f"ws://127.0.0.1:{port_b}/graphql")
    assert (await typed.init(token2))["type"] == "connection_ack"
    async with registered_at(url_b, 1, token=token2):
        await typed.subscribe("w", "subscription($w: ID!) { walletUpdated(walletId: $w) { walletId change } }",
                              {"w": wallet_id})
    await gql(port_a, "mutation($id: ID!) { renameWallet(id: $id, name: \"Hot\") { name } }", token2,
              id=wallet_id)
    while True:  # the import's own (failing) sync may publish walletUpdated too
        upd = (await typed.recv(wait_s=15))["payload"]["data"]["walletUpdated"]
        if upd["change"] == "RENAMED":
            break
    assert upd["walletId"] == wallet_id
    await typed.close()

    # A subscriber that reconnects to the *other* process resumes from the id it saw.
    await watcher.close()
    again = await WS.open(f"ws://127.0.0.1:{port_a}/graphql")
    assert (await again.init(token2))["type"] == "connection_ack"
    async with registered_at(url_a, 1, token=token2):
        await again.subscribe("ev", EVENTS, {"after": event["id"]})
    reg2 = await gql(port_b, "mutation($i: LoginInput!) { login(input: $i) { token } }", i=creds)
    token3 = reg2["data"]["login"]["token"]  # type: ignore[index]
    await gql(port_b, "mutation { logout }", token3)
    seen = []
    while True:  # first what was missed (replayed from the shared log), then live
        got = (await again.recv(wait_s=15))["payload"]["data"]["events"]
        seen.append(got)
        if got["__typename"] == "SessionRevoked":
            break
    assert event["id"] not in [e["id"] for e in seen]
    assert any(e["__typename"] == "WalletUpdate" and e["change"] == "RENAMED" for e in seen)
    assert len({e["id"] for e in seen}) == len(seen)  # no duplicates
    await again.close()
