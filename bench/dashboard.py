"""The dashboard query under load: our server (cache hit, uncached, ``{ viewer { id email } }``,
``--workers 2`` vs 1) side by side, in the same run, with (a) a bare Starlette endpoint that parses
the same request body and returns the same JSON and (b) a plain Strawberry schema returning the same
data from in-memory objects (the execution limit).

    .venv/bin/python bench/dashboard.py [--duration 10] [--connections 20] [--skip-big]

Load generator: wrk (installed with ``apt-get install -y wrk`` when missing), POST through a lua
script, ``--latency`` for p50/p99. Data: devchain ``small`` (its 10 wallets imported and synced);
then devchain ``big`` (its 10,202-transaction wallet plus 49 fresh wallets: 50 wallets on one user).
Every server runs one uvicorn worker (``mbf serve``, ``MBF_ENV=production``, SQLite, Redis for events
when it is running: ``--workers 2`` needs it) except the ``--workers 2`` row. The machine's load
average is printed with every row: the machine is shared, read figures side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv/bin/python")
MBF = str(ROOT / ".venv/bin/mbf")
REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "bench passphrase 1234"

DASHBOARD = """query Dashboard {
  viewer { id email }
  portfolio(id: "all") { balance { confirmed unconfirmed total } value }
  wallets(first: 20) { totalCount edges { node {
    id name network scriptType syncStatus lastSyncedAt balance { confirmed unconfirmed total }
    transactions(first: 20) { totalCount edges { node {
      txid blockHeight blockTime confirmations fee vsize netAmount direction label } } }
    utxos { txid vout value address confirmations } } } }
}"""
VIEWER = "query Me { viewer { id email } }"


# -- helpers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get install -y wrk)...", file=sys.stderr)
    install = ["apt-get", "install", "-y", "wrk"]
    if os.geteuid() != 0:
        install.insert(0, "sudo")
    if subprocess.run(install, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run([*install[:-3], "apt-get", "update"], stdout=subprocess.DEVNULL, check=False)
        subprocess.run(install, stdout=subprocess.DEVNULL, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def wait_http(url: str, proc: subprocess.Popen[Any], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)  # any answer: it is up
            return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} never answered")
        time.sleep(0.2)


@contextlib.contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[Any]]:
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=out, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if log and not isinstance(out, int):
            out.close()


@contextlib.contextmanager
def devchain(scenario: str, cache_dir: Path) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [MBF, "devchain", "--scenario", scenario, "--data-dir", str(cache_dir), "--electrum-tls-port", "-1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "MBF_LOG_LEVEL": "warning"},
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"devchain {scenario} did not start")
        yield json.loads(line)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def server_env(data_dir: Path, chain: dict[str, Any], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
    env.update(
        MBF_ENV="production",
        MBF_DATA_DIR=str(data_dir),
        MBF_SECRET_KEY="2" * 64,
        MBF_LOG_LEVEL="warning",
        MBF_REGTEST_ESPLORA_URL=chain["esplora"],
        MBF_PRICE_POLL_ENABLED="false",
        MBF_THROTTLE_REDIS_PREFIX=f"bench-{os.getpid()}:throttle",
    )
    if redis_running():
        env["MBF_REDIS_URL"] = REDIS_URL
    env.update(extra)
    return env


@contextlib.contextmanager
def mbf_serve(data_dir: Path, chain: dict[str, Any], workers: int = 1, **extra: str) -> Iterator[str]:
    port = free_port()
    env = server_env(data_dir, chain, **extra)
    args = [MBF, "serve", "--port", str(port), "--workers", str(workers)]
    with process(args, env, data_dir.parent / f"serve-{port}.log") as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", proc)
        yield base


def gql(base: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    r = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=120)
    body: dict[str, Any] = r.json()
    return body


def random_descriptor(n: int) -> str:
    """A fresh regtest wallet with no history (for the 49 extra wallets of the big user)."""
    from embit import bip32
    from embit.networks import NETWORKS

    seed = n.to_bytes(4, "big") * 8
    root = bip32.HDKey.from_seed(seed, version=NETWORKS["regtest"]["xprv"])
    account = root.derive("m/84h/1h/0h").to_public()
    account.version = NETWORKS["regtest"]["xpub"]
    return f"wpkh([{root.my_fingerprint.hex()}/84h/1h/0h]{account.to_base58()}/<0;1>/*)"


def set_up_user(base: str, chain: dict[str, Any], extra_wallets: int) -> str:
    token = gql(
        base,
        "mutation($i: RegisterInput!) { register(input: $i) { token } }",
        {"i": {"email": "bench@example.com", "password": PASSWORD}},
    )["data"]["register"]["token"]
    # The chain's wallets first (the big one on the dashboard's first page), synced before the fresh
    # ones are added: the big wallet's first sync holds SQLite's write lock for long stretches.
    import_and_sync(base, token, [w["descriptor"] for w in chain["wallets"]], 0)
    import_and_sync(base, token, [random_descriptor(i) for i in range(extra_wallets)], len(chain["wallets"]))
    return token


def import_and_sync(base: str, token: str, sources: list[str], offset: int) -> None:
    for i, source in enumerate(sources, start=offset):
        for _attempt in range(5):
            body = gql(
                base,
                "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
                {"i": {"name": f"w{i}", "source": source, "network": "REGTEST"}},
                token,
            )
            if not body.get("errors"):
                break
            time.sleep(2)  # "database is locked" while a sync writes: try again
        else:
            raise SystemExit(f"import failed: {body['errors']}")
    deadline = time.monotonic() + 900
    while True:
        body = gql(base, "{ wallets(first: 100) { edges { node { syncStatus } } } }", token=token)
        states = [e["node"]["syncStatus"] for e in body["data"]["wallets"]["edges"]]
        if all(s == "SYNCED" for s in states):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"wallets never synced: {states}")
        time.sleep(1)


# -- the comparison servers ---------------------------------------------------------------------


def serve_bare(response_file: Path, port: int) -> None:
    """(a) Bare Starlette: parse the request body, return the same JSON (serialised per request)."""
    import orjson
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answer = json.loads(response_file.read_text())

    async def endpoint(request: Request) -> Response:
        json.loads(await request.body())
        return Response(orjson.dumps(answer), media_type="application/json")

    uvicorn.run(
        Starlette(routes=[Route("/graphql", endpoint, methods=["POST", "GET"])]),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )


# (b) the plain Strawberry schema's types, at module scope so Strawberry resolves their annotations.
from typing import NewType  # noqa: E402

import strawberry  # noqa: E402

Sats = NewType("Sats", int)  # 64-bit integers, as ours (GraphQL Int is 32-bit)
SATS_SCALAR = strawberry.scalar(name="Sats", serialize=int, parse_value=int)


@strawberry.type
class Balance:
    confirmed: Sats
    unconfirmed: Sats
    total: Sats


@strawberry.type
class Viewer:
    id: strawberry.ID
    email: str


@strawberry.type
class Portfolio:
    balance: Balance
    value: str


@strawberry.type
class Tx:
    txid: str
    blockHeight: int | None
    blockTime: str | None
    confirmations: int
    fee: Sats | None
    vsize: int
    netAmount: Sats
    direction: str
    label: str | None


@strawberry.type
class TxEdge:
    node: Tx


@strawberry.type
class TxConnection:
    totalCount: int
    edges: list[TxEdge]


@strawberry.type
class Utxo:
    txid: str
    vout: int
    value: Sats
    address: str
    confirmations: int


@strawberry.type
class Wallet:
    id: strawberry.ID
    name: str
    network: str
    scriptType: str
    syncStatus: str
    lastSyncedAt: str | None
    balance: Balance
    txs: strawberry.Private[TxConnection]
    utxos: list[Utxo]

    @strawberry.field
    def transactions(self, first: int | None = None) -> TxConnection:
        return self.txs


@strawberry.type
class WalletEdge:
    node: Wallet


@strawberry.type
class WalletConnection:
    totalCount: int
    edges: list[WalletEdge]


_MEMORY: dict[str, Any] = {}


@strawberry.type
class Query:
    @strawberry.field
    def viewer(self) -> Viewer:
        return _MEMORY["viewer"]  # type: ignore[no-any-return]

    @strawberry.field
    def portfolio(self, id: strawberry.ID) -> Portfolio:
        return _MEMORY["portfolio"]  # type: ignore[no-any-return]

    @strawberry.field
    def wallets(self, first: int | None = None) -> WalletConnection:
        return _MEMORY["wallets"]  # type: ignore[no-any-return]


def serve_strawberry(response_file: Path, port: int) -> None:
    """(b) A plain Strawberry schema over in-memory objects built from the same answer."""
    import uvicorn
    from strawberry.asgi import GraphQL

    data = json.loads(response_file.read_text())["data"]

    def wallet(w: dict[str, Any]) -> Wallet:
        t = w["transactions"]
        return Wallet(
            id=w["id"],
            name=w["name"],
            network=w["network"],
            scriptType=w["scriptType"],
            syncStatus=w["syncStatus"],
            lastSyncedAt=w["lastSyncedAt"],
            balance=Balance(**w["balance"]),
            txs=TxConnection(totalCount=t["totalCount"], edges=[TxEdge(node=Tx(**e["node"])) for e in t["edges"]]),
            utxos=[Utxo(**u) for u in w["utxos"]],
        )

    _MEMORY["viewer"] = Viewer(**data["viewer"])
    _MEMORY["portfolio"] = Portfolio(balance=Balance(**data["portfolio"]["balance"]), value=data["portfolio"]["value"])
    _MEMORY["wallets"] = WalletConnection(
        totalCount=data["wallets"]["totalCount"],
        edges=[WalletEdge(node=wallet(e["node"])) for e in data["wallets"]["edges"]],
    )
    from strawberry.schema.config import StrawberryConfig

    schema = strawberry.Schema(query=Query, config=StrawberryConfig(scalar_map={Sats: SATS_SCALAR}))
    uvicorn.run(GraphQL(schema), host="127.0.0.1", port=port, log_level="warning")


@contextlib.contextmanager
def side_server(mode: str, response_file: Path, work: Path) -> Iterator[str]:
    port = free_port()
    with process([PY, __file__, mode, str(response_file), str(port)], log=work / f"{mode[2:]}.log") as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/graphql", proc)
        yield base


# -- wrk ------------------------------------------------------------------------------------------


def lua(work: Path, query: str, token: str | None) -> Path:
    path = work / f"req-{abs(hash((query, token)))}.lua"
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(json.dumps({'query': query}))}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    path.write_text("\n".join(lines) + "\n")
    return path


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def wrk(wrk_bin: str, url: str, script: Path, connections: int, duration: int) -> dict[str, float]:
    threads = min(2, connections)
    out = subprocess.run(
        [
            wrk_bin,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--latency",
            "--timeout",
            "30s",
            "-s",
            str(script),
            f"{url}/graphql",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        figures[f"p{pct}"] = _ms(m.group(1)) if m else float("nan")
    timeouts = re.search(r"timeout (\d+)", out)
    figures["timeouts"] = float(timeouts.group(1)) if timeouts else 0.0
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    figures["non2xx"] = float(bad.group(1)) if bad else 0.0
    return figures


class Table:
    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[tuple[str, dict[str, float], float]] = []

    def add(self, name: str, figures: dict[str, float]) -> None:
        load = os.getloadavg()[0]
        self.rows.append((name, figures, load))
        bad = f"  NON-2XX {int(figures['non2xx'])}" if figures.get("non2xx") else ""
        bad += f"  TIMEOUTS {int(figures['timeouts'])}" if figures.get("timeouts") else ""
        print(
            f"  {name:<52} {figures['rps']:>9.1f} req/s  p50 {figures['p50']:>8.2f} ms  "
            f"p99 {figures['p99']:>8.2f} ms  load {load:.2f}{bad}",
            flush=True,
        )

    def rps(self, name: str) -> float:
        return next(f["rps"] for n, f, _ in self.rows if n == name)


def ratio(table: Table, a: str, b: str) -> str:
    return f"{100 * table.rps(a) / table.rps(b):.1f} %"


# -- the run --------------------------------------------------------------------------------------


def run_scenario(
    name: str, scenario: str, extra_wallets: int, args: argparse.Namespace, wrk_bin: str, cache_dir: Path
) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"bench-dashboard-{scenario}-"))
    print(f"\n== {name}: devchain {scenario}, {extra_wallets} extra wallets  (work dir {work})", flush=True)
    c, d = args.connections, args.duration
    with devchain(scenario, cache_dir) as chain:
        data_dir = work / "data"
        started = time.monotonic()
        with mbf_serve(data_dir, chain) as base:
            token = set_up_user(base, chain, extra_wallets)
            answer = gql(base, DASHBOARD, token=token)
            if answer.get("errors"):
                raise SystemExit(f"dashboard errors: {answer['errors']}")
        wallets = answer["data"]["wallets"]
        txs = sum(e["node"]["transactions"]["totalCount"] for e in wallets["edges"])  # of the first page
        size = len(json.dumps(answer, separators=(",", ":")))
        print(
            f"  set-up {time.monotonic() - started:.0f} s: {wallets['totalCount']} wallets, {txs} transactions "
            "(first page), "
            f"answer {size / 1024:.1f} KB, {os.cpu_count()} CPUs",
            flush=True,
        )
        response_file = work / "answer.json"
        response_file.write_text(json.dumps(answer))
        dash, me = lua(work, DASHBOARD, token), lua(work, VIEWER, token)
        table = Table(name)
        with side_server("--serve-bare", response_file, work) as bare:
            table.add("bare Starlette (same body, same JSON)", wrk(wrk_bin, bare, dash, c, d))
        with side_server("--serve-strawberry", response_file, work) as plain:
            table.add("plain Strawberry, in-memory objects", wrk(wrk_bin, plain, dash, c, d))
        with mbf_serve(data_dir, chain) as base:
            gql(base, DASHBOARD, token=token)  # warm: the answer is cached
            table.add("mbf dashboard, cache hit", wrk(wrk_bin, base, dash, c, d))
            table.add("mbf dashboard, cache hit, 1 connection", wrk(wrk_bin, base, dash, 1, d))
            table.add("mbf viewer { id email }, cache hit", wrk(wrk_bin, base, me, c, d))
        with mbf_serve(data_dir, chain, MBF_RESPONSE_CACHE_TTL_S="0") as base:
            gql(base, DASHBOARD, token=token)
            table.add("mbf dashboard, uncached", wrk(wrk_bin, base, dash, c, d))
            table.add("mbf dashboard, uncached, 1 connection", wrk(wrk_bin, base, dash, 1, d))
            table.add("mbf viewer { id email }, uncached", wrk(wrk_bin, base, me, c, d))
        if redis_running() and not args.skip_workers:
            with mbf_serve(data_dir, chain, workers=2, MBF_RESPONSE_CACHE_TTL_S="0") as base:
                for _ in range(4):
                    gql(base, DASHBOARD, token=token)
                table.add("mbf dashboard, uncached, --workers 2", wrk(wrk_bin, base, dash, c, d))
            with mbf_serve(data_dir, chain, workers=2) as base:
                for _ in range(4):
                    gql(base, DASHBOARD, token=token)
                table.add("mbf dashboard, cache hit, --workers 2", wrk(wrk_bin, base, dash, c, d))
        bare_, plain_ = "bare Starlette (same body, same JSON)", "plain Strawberry, in-memory objects"
        lines = [
            ("cache hit / bare Starlette", "mbf dashboard, cache hit", bare_, "target >= 50 %"),
            ("uncached / plain Strawberry", "mbf dashboard, uncached", plain_, "target >= 60 %"),
            ("viewer uncached / bare Starlette", "mbf viewer { id email }, uncached", bare_, "target >= 40 %"),
            ("viewer cache hit / bare Starlette", "mbf viewer { id email }, cache hit", bare_, "target >= 40 %"),
            ("--workers 2 / 1 worker, uncached", "mbf dashboard, uncached, --workers 2", "mbf dashboard, uncached", ""),
            (
                "--workers 2 / 1 worker, cache hit",
                "mbf dashboard, cache hit, --workers 2",
                "mbf dashboard, cache hit",
                "",
            ),
        ]
        print("  ratios (requests/s):")
        names = {n for n, _, _ in table.rows}
        for label, a, b, target in lines:
            if a in names and b in names:
                print(f"    {label:<36} {ratio(table, a, b):>8}  {target}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] in ("--serve-bare", "--serve-strawberry"):
        serve = serve_bare if sys.argv[1] == "--serve-bare" else serve_strawberry
        serve(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--skip-big", action="store_true", help="only devchain small")
    parser.add_argument("--skip-small", action="store_true", help="only devchain big")
    parser.add_argument("--skip-workers", action="store_true", help="no --workers 2 rows")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=ROOT / "data" / "devchain",
        help="devchain generation cache (big takes a while the first time)",
    )
    args = parser.parse_args()
    wrk_bin = ensure_wrk()
    if not redis_running():
        print(
            "note: Redis is not running on 127.0.0.1:6379: no --workers 2 rows, sessions read from the database",
            file=sys.stderr,
        )
    print(f"dashboard bench: {args.connections} connections, {args.duration} s per run, load {os.getloadavg()}")
    if not args.skip_small:
        run_scenario("small (10 wallets)", "small", 0, args, wrk_bin, args.cache_dir)
    if not args.skip_big:
        run_scenario("big (50 wallets)", "big", 49, args, wrk_bin, args.cache_dir)


if __name__ == "__main__":
    main()
