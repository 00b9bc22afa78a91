"""WebSocket fan-out: publish→receipt latency, server CPU and memory per connection.

    .venv/bin/python bench/ws_fanout.py [--subs 1000] [--rate 50] [--seconds 10] [--idle 5000]
                                        [--skip-naive] [--skip-redis] [--skip-idle]

Loopback only; every phase is bounded and the script stops by itself. Phases:
1. shared:  one uvicorn server process (in-process hub), ``--subs`` subscribers of
            ``priceUpdated(currency: "USD")`` over graphql-transport-ws, ``--rate`` events/s for
            ``--seconds``: our handler (one execution + one serialised payload per event).
2. naive:   the same with Strawberry's stock handler (one execution per subscriber per event),
            side by side in the same run.
3. idle:    ``--idle`` connected and subscribed but idle sockets: server RSS per connection.
4. redis:   two server processes on the local Redis; events published in process A, the
            subscribers on process B.
The events are published inside the server process by a bench-only control port (this file's
``server`` role), with the publish time in the payload; clients compute receipt - publish.
Server CPU = (utime+stime) delta / wall time of the phase, from /proc. Clients run in 2
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUERY = 'subscription { priceUpdated(currency: "USD") { payload } }'
CLK = os.sysconf("SC_CLK_TCK")


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- server role (a subprocess) ----------------------------------------------------------------


async def _serve(port: int, ctl_port: int, naive: bool) -> None:
    import uvicorn

    from app.config import load_settings
    from app.container import Container
    from app.events.envelope import Event
    from app.main import create_app

    settings = load_settings()
    container = Container(settings)
    app = create_app(settings, container)
    if naive:
        from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
            BaseGraphQLTransportWSHandler,
        )

        from app.http.graphql import GraphQLApp

        GraphQLApp.graphql_transport_ws_handler_class = BaseGraphQLTransportWSHandler  # type: ignore[assignment]

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
                    payload = {"t": time.time(), "value": f"{97000 + i % 100}.12", "source": "bench"}
                    await container.hub.publish(
                        Event(type="priceUpdated", user_id=None, subject="USD", payload=payload)
                    )
                writer.write(f"ok {n}\n".encode())
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
            MBF_LOG_LEVEL="warning", MBF_LOG_FORMAT="console", MBF_SUBSCRIBER_QUEUE_SIZE="1024",
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

    def __init__(self, host: str, port: int, lat: list[float], acked: asyncio.Event, counter: list[int]) -> None:
        self.host, self.port, self.lat, self.acked, self.counter = host, port, lat, acked, counter
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
            self.transport.write(_mask_frame(json.dumps({"type": "connection_init", "payload": {}})))
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
                i = buf.find(b'"t":', start, pos)
                if i >= 0:
                    j = buf.find(b",", i, pos)
                    self.lat.append(time.time() - float(buf[i + 4 : j]))
                    self.counter[0] += 1
                elif buf.find(b"connection_ack", start, pos) >= 0:
                    self.transport.write(
                        _mask_frame(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
                    )
                    self.acked.set()
                elif buf.find(b'"ping"', start, pos) >= 0:
                    self.transport.write(_mask_frame('{"type":"pong"}'))
            elif opcode == 9:
                self.transport.write(_mask_frame(bytes(buf[start:pos]).decode("latin1"), 10))
            elif opcode == 8:
                self.transport.close()
        del buf[:pos]


async def _clients(url: str, n: int, conn: Any) -> None:
    host, port = "127.0.0.1", int(url.split(":")[2].split("/")[0])
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    counter = [0]
    sem = asyncio.Semaphore(100)
    transports = []

    async def open_one() -> None:
        async with sem:
            acked = asyncio.Event()
            tr, _ = await loop.create_connection(lambda: _WSClient(host, port, lat, acked, counter), host, port)
            transports.append(tr)
            await asyncio.wait_for(acked.wait(), 60)

    await asyncio.gather(*(open_one() for _ in range(n)))
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


def client_main(url: str, n: int, conn: Any) -> None:
    _raise_nofile()
    asyncio.run(_clients(url, n, conn))


class Clients:
    def __init__(self, url: str, total: int, procs: int = 2) -> None:
        ctx = mp.get_context("spawn")
        self.pipes = []
        self.procs = []
        per = [total // procs + (1 if i < total % procs else 0) for i in range(procs)]
        for n in per:
            a, b = ctx.Pipe()
            p = ctx.Process(target=client_main, args=(url, n, b), daemon=True)
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
               seconds: float) -> dict[str, Any]:
    rss0 = subscriber.rss_kb()
    clients = Clients(f"ws://127.0.0.1:{subscriber.port}/graphql", subs)
    time.sleep(1.0)
    rss1 = subscriber.rss_kb()
    publisher.command(f"pub {rate} 1")  # warm-up
    time.sleep(1.0)
    clients.collect()
    cpu0, t0 = subscriber.cpu_s(), time.time()
    cpu_pub0 = publisher.cpu_s() if publisher is not subscriber else 0.0
    reply = publisher.command(f"pub {rate} {seconds}")
    clients.wait_for(int(reply.split()[1]) * subs)  # let the last frames arrive (bounded)
    wall = time.time() - t0
    cpu = subscriber.cpu_s() - cpu0
    cpu_pub = publisher.cpu_s() - cpu_pub0 if publisher is not subscriber else 0.0
    lat, received = clients.collect()
    sent = int(reply.split()[1])
    rss2 = subscriber.rss_kb()
    clients.stop()
    out = {
        "phase": name,
        "subs": subs,
        "rate": rate,
        "events": sent,
        "expected": sent * subs,
        "received": received,
        "p50_ms": 1000 * pct(lat, 0.50),
        "p99_ms": 1000 * pct(lat, 0.99),
        "max_ms": 1000 * max(lat) if lat else float("nan"),
        "server_cpu_pct": 100 * cpu / wall,
        "publisher_cpu_pct": 100 * cpu_pub / wall if publisher is not subscriber else None,
        "rss_per_conn_kb": (rss1 - rss0) / subs,
        "rss_growth_under_load_kb": rss2 - rss1,
    }
    print(
        f"{name:>8}: {subs} subs x {sent} events ({rate:g}/s): received {received}/{sent * subs}, "
        f"p50 {out['p50_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms, max {out['max_ms']:.1f} ms, "
        f"server CPU {out['server_cpu_pct']:.0f}% (load avg {os.getloadavg()[0]:.1f})"
        + (f" (publisher {out['publisher_cpu_pct']:.0f}%)" if out["publisher_cpu_pct"] is not None else "")
        + f", RSS/conn {out['rss_per_conn_kb']:.1f} KB",
        flush=True,
    )
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
