"""WebSocket fan-out: publish→receipt latency, server CPU and memory per connection.

    .venv/bin/python bench/ws_fanout.py [--subs 1000] [--rate 50] [--seconds 10] [--idle 5000]
                                        [--users 1000] [--user-rate 1000]
                                        [--skip-naive] [--skip-redis] [--skip-idle] [--skip-users]

Loopback only; every phase is bounded and the script stops by itself. Phases:
1. shared:  one uvicorn server process (in-process hub), ``--subs`` subscribers of
            ``priceUpdated(currency: "USD") { currency value at source }`` (a typed selection)
            over graphql-transport-ws, ``--rate`` events/s for ``--seconds``: our handler (one
            execution, one serialised frame per event, written to each socket).
2. users:   ``--users`` signed-in users, each watching their own wallet with
            ``walletUpdated(walletId: $w) { id occurredAt change balance { total } txCount }``;
            ``--user-rate`` events/s in all, round-robin over the users (one execution per event:
            nothing is shared between users).
3. naive:   the shared case with Strawberry's stock handler (one execution per subscriber per
            event), side by side in the same run.
4. idle:    ``--idle`` connected and subscribed but idle sockets: server RSS per connection.
5. redis:   two server processes on the local Redis; events published in process A, the
            subscribers on process B.
The events are published inside the server process by a bench-only control port (this file's
``server`` role), with the publish time in a selected field (``Price.at``, ``occurredAt``);
clients compute receipt - publish. The ``users`` role creates its accounts in the server process
with a cheap password hash (the bench measures delivery, not sign-up).
Server CPU = (utime+stime) delta / wall time of the phase, from /proc. "server-side delivery" is
measured inside the server: publish time to the end of the write loop over every subscriber of
that result (what the server controls), next to the end-to-end figure the clients see (which
includes waiting for a CPU when the clients share the cores). ``BENCH_PROFILE=1`` prints the top
functions of a cProfile of the server during each load phase. Clients run in 2
processes; on a 2-core machine they compete with the server for CPU (figures are pessimistic).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUERY = 'subscription { priceUpdated(currency: "USD") { currency value at source } }'
WALLET_QUERY = (
    "subscription($w: ID!) { walletUpdated(walletId: $w) { id occurredAt change balance { total } txCount } }"
)
ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
CLK = os.sysconf("SC_CLK_TCK")
PROFILE = os.environ.get("BENCH_PROFILE") == "1"  # cProfile the subscriber server during each load phase


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- server role (a subprocess) ----------------------------------------------------------------


async def _serve(port: int, ctl_port: int, naive: bool) -> None:
    from datetime import UTC, datetime

    import uvicorn

    from app.bitcoin.networks import Network
    from app.config import load_settings
    from app.container import Container
    from app.events.envelope import Event
    from app.main import create_app
    from app.services.wallets import ImportWalletInput

    settings = load_settings()
    container = Container(settings)
    app = create_app(settings, container)
    if naive:
        from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
            BaseGraphQLTransportWSHandler,
        )

        from app.http.graphql import GraphQLApp

        GraphQLApp.graphql_transport_ws_handler_class = BaseGraphQLTransportWSHandler  # type: ignore[assignment]

    users: list[list[str]] = []
    delivered = _time_deliveries()
    profiler: list[Any] = []

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            parts = line.decode().split()
            if parts[0] == "pub":  # pub <rate> <seconds>
                rate, seconds = float(parts[1]), float(parts[2])
                n = int(rate * seconds)
                start = time.perf_counter()
                for i in range(n):
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    at = datetime.now(UTC).isoformat()
                    payload = {"currency": "USD", "value": f"{97000 + i % 100}.12", "at": at, "source": "bench"}
                    await container.hub.publish(
                        Event(type="priceUpdated", user_id=None, subject="USD", payload=payload)
                    )
                writer.write(f"ok {n}\n".encode())
            elif parts[0] == "users":  # users <n>: accounts, sessions and one wallet each
                import app.services.accounts as accounts_module

                async def cheap_hash(password: str) -> str:
                    return "bench-no-login"

                accounts_module.hash_password_async = cheap_hash
                created: list[list[str]] = []
                for i in range(int(parts[1])):
                    user = await container.accounts.create_user(f"u{i}@bench.example", "correct horse battery")
                    issued = await container.accounts._issue(user)
                    # Signed in once here: the session's first use is a write (last_used_at); 1,000
                    # sockets doing it at once would queue on SQLite's one writer instead.
                    await container.accounts.authenticate(issued.token)
                    wallet = await container.wallets.import_wallet(
                        user.id, ImportWalletInput(name="w", source=ZPUB, network=Network.MAINNET)
                    )
                    created.append([issued.token, wallet.id, user.id])
                users[:] = created
                writer.write((json.dumps([c[:2] for c in created]) + "\n").encode())
            elif parts[0] == "pubusers":  # pubusers <rate> <seconds>: walletUpdated round-robin
                rate, seconds = float(parts[1]), float(parts[2])
                n = int(rate * seconds)
                start = time.perf_counter()
                for i in range(n):
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    _, wallet_id, user_id = users[i % len(users)]
                    balance = {"confirmed": i, "unconfirmed": 0, "total": i}
                    change: dict[str, Any] = {"walletId": wallet_id, "balance": balance, "txCount": 1, "tipHeight": 1}
                    await container.hub.publish(
                        Event(type="walletUpdated", user_id=user_id, subject=wallet_id, payload=change)
                    )
                writer.write(f"ok {n}\n".encode())
            elif parts[0] == "served":  # server-side delivery latencies since the last call
                values = sorted(delivered)
                delivered.clear()
                writer.write((json.dumps(values) + "\n").encode())
            elif parts[0] == "prof":  # prof on | prof off: cProfile of the server's loop, top functions
                import cProfile
                import io
                import pstats

                if parts[1] == "on":
                    profiler[:] = [cProfile.Profile()]
                    profiler[0].enable()
                    writer.write(b"ok\n")
                else:
                    profiler[0].disable()
                    out = io.StringIO()
                    pstats.Stats(profiler[0], stream=out).sort_stats("tottime").print_stats(12)
                    writer.write((json.dumps(out.getvalue()) + "\n").encode())
            elif parts[0] == "health":
                writer.write((json.dumps(await container.hub.health(), default=str) + "\n").encode())
            await writer.drain()
        writer.close()

    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", backlog=4096,
        ws_max_size=settings.ws_max_message_bytes * 4, ws=os.environ.get("BENCH_WS", "auto"),  # type: ignore[arg-type]
        ws_per_message_deflate=False,  # as `mbf serve`
    )
    server = uvicorn.Server(config)
    ctl = await asyncio.start_server(control, "127.0.0.1", ctl_port)
    async with ctl:
        await server.serve()


def _time_deliveries() -> list[float]:
    """Server-side latency of each shared result: from its publish time (the selected ``at`` /
    ``occurredAt``) to the end of the write of that loop turn's frames to every member's
    transport (``_Flusher.run``: handed to the kernel, or to the transport's buffer when the
    kernel's is full). Wraps the fan-out in this bench server only. On a server without the
    flusher (older code) it times the end of ``FanoutGroup._deliver`` (the frames queued)."""
    from subscriptions.fanout import FanoutGroup

    try:
        from subscriptions.transport import _Flusher
    except ImportError:
        _Flusher = None  # type: ignore[assignment,misc]
    seen: list[float] = []
    stamps: list[float] = []
    deliver = FanoutGroup._deliver

    def timed(self: FanoutGroup, tail: str) -> None:
        deliver(self, tail)
        for key in ('"at":"', '"occurredAt":"'):
            i = tail.find(key)
            if i >= 0:
                i += len(key)
                stamps.append(datetime.fromisoformat(tail[i : tail.index('"', i)]).timestamp())
                break
        if _Flusher is None:
            now = time.time()
            seen.extend(now - t for t in stamps)
            stamps.clear()

    FanoutGroup._deliver = timed  # type: ignore[method-assign]
    if _Flusher is not None:
        run = _Flusher.run

        def timed_run(self: Any) -> None:
            run(self)
            if stamps:
                now = time.time()
                seen.extend(now - t for t in stamps)
                stamps.clear()

        _Flusher.run = timed_run  # type: ignore[method-assign]
    return seen


def server_main(args: argparse.Namespace) -> None:
    _raise_nofile()
    asyncio.run(_serve(args.port, args.ctl_port, args.naive))


class Server:
    def __init__(self, data_dir: Path, *, naive: bool = False, redis: str | None = None,
                 database_url: str | None = None) -> None:
        self.port, self.ctl_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
        env.update(
            MBF_DATA_DIR=str(data_dir), MBF_SECRET_KEY="1" * 64, MBF_PRICE_POLL_ENABLED="false",
            MBF_LOG_LEVEL="error", MBF_LOG_FORMAT="console", MBF_SUBSCRIBER_QUEUE_SIZE="1024",
            # thousands of sockets from one address (the clients are all on loopback)
            MBF_WS_MAX_ANONYMOUS_PER_IP="100000", MBF_WS_MAX_ANONYMOUS_TOTAL="100000",
            # the users' wallet imports never reach a chain server: their first sync fails at once
            MBF_ESPLORA_URL="http://127.0.0.1:9", MBF_CHAIN_RETRIES="0", MBF_SYNC_INTERVAL_S="3600",
        )
        if redis:
            env["MBF_REDIS_URL"] = redis
        if database_url:
            env["MBF_DATABASE_URL"] = database_url
        cmd = [sys.executable, __file__, "server", "--port", str(self.port), "--ctl-port", str(self.ctl_port)]
        if naive:
            cmd.append("--naive")
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
        deadline = time.time() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("bench server did not start") from None
                time.sleep(0.1)
        self.ctl = socket.create_connection(("127.0.0.1", self.ctl_port))
        self.ctl_file = self.ctl.makefile("rwb")

    def command(self, line: str) -> str:
        self.ctl_file.write((line + "\n").encode())
        self.ctl_file.flush()
        return self.ctl_file.readline().decode().strip()

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK

    def stop(self) -> None:
        self.ctl.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- client role (worker processes) ---------------------------------------------------------------


def _mask_frame(text: str, opcode: int = 1) -> bytes:
    payload = text.encode()
    n = len(payload)
    header = bytes([0x80 | opcode])
    header += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    mask = os.urandom(4)
    m = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big") if n else b""
    return header + mask + masked


class _WSClient(asyncio.Protocol):
    """A minimal graphql-transport-ws client (so the clients, not the server, are cheap)."""

    def __init__(
        self, host: str, port: int, lat: list[float], acked: asyncio.Event, counter: list[int],
        init: str, subscribe: str, stamp: bytes,
    ) -> None:
        self.host, self.port, self.lat, self.acked, self.counter = host, port, lat, acked, counter
        self.init, self.subscribe, self.stamp = init, subscribe, stamp
        self.buf = bytearray()
        self.open = False
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        import base64

        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (f"GET /graphql HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n").encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buf[:end]:
                raise RuntimeError(bytes(buf[:end]).decode())
            self.open = True
            pos = end + 4
            self.transport.write(_mask_frame(self.init))
        n = len(buf)
        while n - pos >= 2:
            ln = buf[pos + 1] & 0x7F
            off = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                off = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                off = 10
            if n - pos < off + ln:
                break
            opcode = buf[pos] & 0x0F
            start = pos + off
            pos = start + ln
            if opcode == 1:
                i = buf.find(self.stamp, start, pos)  # the publish time, an ISO string
                if i >= 0:
                    i += len(self.stamp)
                    j = buf.find(b'"', i, pos)
                    self.lat.append(time.time() - datetime.fromisoformat(buf[i:j].decode()).timestamp())
                    self.counter[0] += 1
                elif buf.find(b'"errors"', start, pos) >= 0 or buf.find(b'"type":"error"', start, pos) >= 0:
                    raise RuntimeError(bytes(buf[start:pos]).decode())
                elif buf.find(b"connection_ack", start, pos) >= 0:
                    self.transport.write(_mask_frame(self.subscribe))
                    self.acked.set()
                elif buf.find(b'"ping"', start, pos) >= 0:
                    self.transport.write(_mask_frame('{"type":"pong"}'))
            elif opcode == 9:
                self.transport.write(_mask_frame(bytes(buf[start:pos]).decode("latin1"), 10))
            elif opcode == 8:
                self.transport.close()
        del buf[:pos]


def _plans(n: int, users: list[list[str]] | None) -> list[tuple[str, str, bytes]]:
    """(connection_init, subscribe, time field) per connection: anonymous price subscribers, or
    one signed-in user each watching their own wallet."""
    if users is None:
        init = json.dumps({"type": "connection_init", "payload": {}})
        sub = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}})
        return [(init, sub, b'"at":"')] * n
    plans = []
    for token, wallet_id in users[:n]:
        init = json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        payload = {"query": WALLET_QUERY, "variables": {"w": wallet_id}}
        plans.append((init, json.dumps({"id": "1", "type": "subscribe", "payload": payload}), b'"occurredAt":"'))
    return plans


async def _clients(url: str, n: int, conn: Any, users: list[list[str]] | None = None) -> None:
    host, port = "127.0.0.1", int(url.split(":")[2].split("/")[0])
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    counter = [0]
    sem = asyncio.Semaphore(100)
    transports = []

    async def open_one(plan: tuple[str, str, bytes]) -> None:
        async with sem:
            acked = asyncio.Event()
            tr, _ = await loop.create_connection(
                lambda: _WSClient(host, port, lat, acked, counter, *plan), host, port
            )
            transports.append(tr)
            await asyncio.wait_for(acked.wait(), 60)

    await asyncio.gather(*(open_one(p) for p in _plans(n, users)))
    conn.send(("ready", n))
    while True:
        cmd = await loop.run_in_executor(None, conn.recv)
        if cmd == "count":
            conn.send(("count", counter[0]))
        elif cmd == "collect":
            conn.send(("lat", lat[:], counter[0]))
            lat.clear()
            counter[0] = 0
        elif cmd == "stop":
            break
    for tr in transports:
        tr.close()
    await asyncio.sleep(0.2)
    conn.send(("stopped", 0))


def client_main(url: str, n: int, conn: Any, users: list[list[str]] | None = None) -> None:
    _raise_nofile()
    asyncio.run(_clients(url, n, conn, users))


class Clients:
    def __init__(self, url: str, total: int, procs: int = 2, users: list[list[str]] | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.pipes = []
        self.procs = []
        per = [total // procs + (1 if i < total % procs else 0) for i in range(procs)]
        offset = 0
        for n in per:
            a, b = ctx.Pipe()
            mine = users[offset : offset + n] if users is not None else None
            offset += n
            p = ctx.Process(target=client_main, args=(url, n, b, mine), daemon=True)
            p.start()
            self.pipes.append(a)
            self.procs.append(p)
        for a in self.pipes:
            if not a.poll(300):
                raise RuntimeError("clients did not connect in time")
            a.recv()

    def count(self) -> int:
        for a in self.pipes:
            a.send("count")
        return sum(a.recv()[1] for a in self.pipes)

    def wait_for(self, expected: int, stall_s: float = 3.0, max_s: float = 60.0) -> None:
        """Until every frame arrived, or nothing arrived for ``stall_s`` (bounded by ``max_s``)."""
        start = last_change = time.time()
        last = -1
        while time.time() - start < max_s:
            n = self.count()
            if n >= expected:
                return
            if n != last:
                last, last_change = n, time.time()
            elif time.time() - last_change > stall_s:
                return
            time.sleep(0.2)

    def collect(self) -> tuple[list[float], int]:
        lat: list[float] = []
        received = 0
        for a in self.pipes:
            a.send("collect")
        for a in self.pipes:
            _, values, r = a.recv()
            lat.extend(values)
            received += r
        return lat, received

    def stop(self) -> None:
        for a in self.pipes:
            a.send("stop")
        for a, p in zip(self.pipes, self.procs, strict=True):
            if a.poll(30):
                a.recv()
            p.join(10)
            if p.is_alive():
                p.kill()


# -- phases -------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def load_phase(name: str, publisher: Server, subscriber: Server, subs: int, rate: float,
               seconds: float, users: list[list[str]] | None = None) -> dict[str, Any]:
    """``users``: one signed-in wallet watcher per user, each event reaching one of them."""
    rss0 = subscriber.rss_kb()
    clients = Clients(f"ws://127.0.0.1:{subscriber.port}/graphql", subs, users=users)
    time.sleep(1.0)
    rss1 = subscriber.rss_kb()
    pub = "pubusers" if users is not None else "pub"
    publisher.command(f"{pub} {rate} 1")  # warm-up
    time.sleep(1.0)
    clients.collect()
    load0 = os.getloadavg()[0]
    cpu0, t0 = subscriber.cpu_s(), time.time()
    cpu_pub0 = publisher.cpu_s() if publisher is not subscriber else 0.0
    subscriber.command("served")  # forget the warm-up
    if PROFILE:
        subscriber.command("prof on")
    reply = publisher.command(f"{pub} {rate} {seconds}")
    fanout = 1 if users is not None else subs  # frames per event
    clients.wait_for(int(reply.split()[1]) * fanout)  # let the last frames arrive (bounded)
    wall = time.time() - t0
    cpu = subscriber.cpu_s() - cpu0
    cpu_pub = publisher.cpu_s() - cpu_pub0 if publisher is not subscriber else 0.0
    lat, received = clients.collect()
    served = json.loads(subscriber.command("served"))
    profile = json.loads(subscriber.command("prof off")) if PROFILE else None
    sent = int(reply.split()[1])
    load1 = os.getloadavg()[0]
    rss2 = subscriber.rss_kb()
    clients.stop()
    out = {
        "phase": name,
        "subs": subs,
        "rate": rate,
        "events": sent,
        "expected": sent * fanout,
        "received": received,
        "p50_ms": 1000 * pct(lat, 0.50),
        "p99_ms": 1000 * pct(lat, 0.99),
        "max_ms": 1000 * max(lat) if lat else float("nan"),
        "server_cpu_pct": 100 * cpu / wall,
        "publisher_cpu_pct": 100 * cpu_pub / wall if publisher is not subscriber else None,
        "rss_per_conn_kb": (rss1 - rss0) / subs,
        "rss_growth_under_load_kb": rss2 - rss1,
        "load_avg_before_after": [load0, load1],
        "server_p50_ms": 1000 * pct(served, 0.50),
        "server_p99_ms": 1000 * pct(served, 0.99),
    }
    print(
        f"{name:>8}: {subs} subs x {sent} events ({rate:g}/s): received {received}/{sent * fanout}, "
        f"p50 {out['p50_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms, max {out['max_ms']:.1f} ms, "
        f"server CPU {out['server_cpu_pct']:.0f}% (load avg {load0:.1f} -> {load1:.1f})"
        + (f" (publisher {out['publisher_cpu_pct']:.0f}%)" if out["publisher_cpu_pct"] is not None else "")
        + f", RSS/conn {out['rss_per_conn_kb']:.1f} KB"
        + f"; server-side delivery p50 {out['server_p50_ms']:.1f} ms, p99 {out['server_p99_ms']:.1f} ms",
        flush=True,
    )
    if profile:
        print(profile, flush=True)
    return out


def idle_phase(server: Server, n: int) -> dict[str, Any]:
    rss0 = server.rss_kb()
    clients = Clients(f"ws://127.0.0.1:{server.port}/graphql", n)
    time.sleep(2.0)
    rss1 = server.rss_kb()
    clients.stop()
    per = (rss1 - rss0) / n
    print(f"    idle: {n} subscribed idle connections: server RSS +{(rss1 - rss0) / 1024:.1f} MB, "
          f"{per:.1f} KB per connection", flush=True)
    return {"phase": "idle", "subs": n, "rss_per_conn_kb": per}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("role", nargs="?", default="bench")
    ap.add_argument("--port", type=int)
    ap.add_argument("--ctl-port", type=int)
    ap.add_argument("--naive", action="store_true")
    ap.add_argument("--subs", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--idle", type=int, default=5000)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-redis", action="store_true")
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--skip-users", action="store_true")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--user-rate", type=float, default=1000)
    args = ap.parse_args()
    if args.role == "server":
        server_main(args)
        return
    _raise_nofile()
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]} load avg={os.getloadavg()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        s = Server(Path(tmp) / "shared")
        try:
            results.append(load_phase("shared", s, s, args.subs, args.rate, args.seconds))
            if not args.skip_users:
                users = json.loads(s.command(f"users {args.users}"))
                results.append(load_phase("users", s, s, args.users, args.user_rate, args.seconds, users))
            if not args.skip_idle:
                results.append(idle_phase(s, args.idle))
        finally:
            s.stop()
        if not args.skip_naive:
            n = Server(Path(tmp) / "naive", naive=True)
            try:
                results.append(load_phase("naive", n, n, args.subs, args.rate, args.seconds))
            finally:
                n.stop()
        if not args.skip_redis:
            db = f"sqlite+aiosqlite:///{Path(tmp) / 'redis.sqlite3'}"
            a = Server(Path(tmp) / "a", redis="redis://127.0.0.1:6379/0", database_url=db)
            b = Server(Path(tmp) / "b", redis="redis://127.0.0.1:6379/0", database_url=db)
            try:
                results.append(load_phase("redis", a, b, args.subs, args.rate, args.seconds))
            finally:
                a.stop()
                b.stop()
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
