"""Full scan of the devchain ``big`` scenario: ours (Esplora, Electrum and Bitcoin Core's RPC) vs
bdkpython's Esplora ``full_scan`` on the same server and descriptor; then incremental syncs with
nothing new. Over Core the first sync includes creating the watch-only wallet in the node and its
rescan (``importdescriptors``), as a user's first sync does.

The devchain runs in its own process (``mbf devchain``), so the server's CPU is not ours.

    .venv/bin/python bench/sync_big.py [--latency-ms 20] [--concurrency 16] [--scenario big]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.bitcoin.derive import ScriptPubKeyDeriver  # noqa: E402
from app.bitcoin.descriptors import Chain, parse_wallet_source  # noqa: E402
from app.bitcoin.networks import Network  # noqa: E402
from app.chain.backend import ChainBackend  # noqa: E402
from app.chain.core import CoreBackend  # noqa: E402
from app.chain.electrum import ElectrumBackend  # noqa: E402
from app.chain.esplora import EsploraBackend  # noqa: E402
from app.sync.codec import parse  # noqa: E402
from app.sync.model import StoredScript, StoredTx, StoredWallet, SyncResult  # noqa: E402
from app.sync.scanner import WalletScanner  # noqa: E402


def start_devchain(scenario: str, latency_ms: int, data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/mbf"),
            "devchain",
            "--scenario",
            scenario,
            "--latency-ms",
            str(latency_ms),
            "--data-dir",
            str(data_dir),
            "--electrum-tls-port",
            "-1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MBF_LOG_LEVEL": "warning"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("devchain did not start")
    return proc, json.loads(line)


def deriver(descriptor: str) -> Any:
    d = parse_wallet_source(descriptor, Network.REGTEST)
    chains = [ScriptPubKeyDeriver(d, Chain.RECEIVE), ScriptPubKeyDeriver(d, Chain.CHANGE)]
    return lambda c, start, n: chains[c].script_pubkeys(start, n)


def as_stored(r: SyncResult) -> StoredWallet:
    """What the store would hold after saving ``r`` (as load_stored would read it back)."""
    st = StoredWallet(tip_height=r.tip_height, tip_hash=r.tip_hash)
    for key, sv in r.scripts.items():
        st.scripts[key] = StoredScript(sv.ref, sv.status, sv.tx_count, sv.used)
    for txid, v in r.txs.items():
        st.txs[txid] = StoredTx(
            txid,
            v.status,
            v.height,
            v.block_hash,
            v.block_time,
            v.first_seen,
            parse(txid, v.io, v.weight, v.fee),
            v.replaced_by,
            v.received,
            v.sent,
            v.net_amount,
            v.direction,
        )
    return st


def figures(r: SyncResult) -> dict[str, int]:
    act = r.active_txs
    return {
        "confirmed": r.confirmed,
        "unconfirmed": r.unconfirmed,
        "txCount": len(act),
        "confirmedTxCount": sum(1 for t in act if t.status == "confirmed"),
        "utxoCount": len(r.utxos),
    }


async def ours(backend: ChainBackend, descriptor: str, gap: int, batch: int) -> tuple[float, SyncResult, WalletScanner]:
    t = time.perf_counter()
    scanner = WalletScanner(backend, deriver(descriptor), gap, StoredWallet(), batch_size=batch)
    result = await scanner.run()
    return time.perf_counter() - t, result, scanner


async def incremental(
    backend: ChainBackend, descriptor: str, gap: int, batch: int, prev: SyncResult
) -> tuple[float, SyncResult]:
    stored = as_stored(prev)
    t = time.perf_counter()
    scanner = WalletScanner(backend, deriver(descriptor), gap, stored, batch_size=batch, mempool=prev.mempool)
    result = await scanner.run()
    return time.perf_counter() - t, result


def bdk_full_scan(url: str, descriptor: str, gap: int, parallel: int) -> tuple[float, int, int]:
    import bdkpython as bdk

    d = parse_wallet_source(descriptor, Network.REGTEST)
    recv = bdk.Descriptor(d.receive_descriptor, bdk.NetworkKind.TEST)
    change = bdk.Descriptor(d.change_descriptor, bdk.NetworkKind.TEST)
    wallet = bdk.Wallet(recv, change, bdk.Network.REGTEST, bdk.Persister.new_in_memory())
    client = bdk.EsploraClient(url)
    t = time.perf_counter()
    request = wallet.start_full_scan().build()
    update = client.full_scan(request, gap, parallel)
    wallet.apply_update(update)
    dt = time.perf_counter() - t
    bal = wallet.balance()
    return dt, bal.total.to_sat(), len(wallet.transactions())


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="big")
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--gap", type=int, default=20)
    ap.add_argument("--skip-bdk", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="alternate ours/bdk Esplora full scans N times")
    ap.add_argument("--store", action="store_true", help="also time import + sync through the service (SQLite)")
    args = ap.parse_args()
    data_dir = Path(os.environ.get("MBF_BENCH_DIR", Path(tempfile.gettempdir()) / "mbf-bench"))
    proc, info = start_devchain(args.scenario, args.latency_ms, data_dir)
    try:
        w = info["wallets"][0]
        desc, expected = w["descriptor"], w["expected"]
        print(
            f"scenario={args.scenario} wallet={w['name']} ({w['scriptType']}) latency={args.latency_ms}ms "
            f"concurrency={args.concurrency} gap={args.gap}"
        )
        print(f"expected: {expected}")
        batch = args.concurrency * 4

        esplora = EsploraBackend(info["esplora"], network="regtest", concurrency=args.concurrency, timeout_s=60)
        dt_e, r_e, sc_e = await ours(esplora, desc, args.gap, batch)
        ok = figures(r_e) == expected
        print(
            f"ours  esplora  full scan: {dt_e:7.2f}s  requests={r_e.requests}  scripts={sc_e.scanned}  "
            f"txs={len(r_e.active_txs)}  {'OK' if ok else 'MISMATCH ' + str(figures(r_e))}"
        )
        inc = []
        for _ in range(3):
            dt, r = await incremental(esplora, desc, args.gap, batch, r_e)
            assert not r.rebuilt, "nothing new on the chain: the incremental sync must find nothing"
            r_e.mempool = r.mempool  # what the service keeps between syncs
            inc.append((dt, r.requests))
        print("ours  esplora  incremental (nothing new): " + ", ".join(f"{dt * 1000:.0f}ms/{n} req" for dt, n in inc))
        await esplora.close()

        el = ElectrumBackend(
            f"tcp://{info['electrum']['host']}:{info['electrum']['port']}",
            network="regtest",
            concurrency=args.concurrency,
            timeout_s=60,
        )
        dt_x, r_x, _sc_x = await ours(el, desc, args.gap, batch)
        ok = figures(r_x) == expected
        print(
            f"ours  electrum full scan: {dt_x:7.2f}s  requests={r_x.requests} round_trips={el.round_trips}  "
            f"txs={len(r_x.active_txs)}  {'OK' if ok else 'MISMATCH ' + str(figures(r_x))}"
        )
        inc = []
        for _ in range(3):
            before = el.round_trips
            dt, r = await incremental(el, desc, args.gap, batch, r_x)
            inc.append((dt, el.round_trips - before))
        print(
            "ours  electrum incremental (nothing new): "
            + ", ".join(f"{dt * 1000:.0f}ms/{n} round trips" for dt, n in inc)
        )
        await el.close()

        await core_side(info, desc, expected, args.gap, batch, args.concurrency)

        if not args.skip_bdk:
            dt_b, total_b, ntx_b = await asyncio.to_thread(
                bdk_full_scan, info["esplora"], desc, args.gap, args.concurrency
            )
            print(
                f"bdk   esplora  full scan: {dt_b:7.2f}s  total={total_b} txs={ntx_b} "
                f"(parallel_requests={args.concurrency})"
            )
            ours_e, bdks = [dt_e], [dt_b]
            for n in range(1, args.repeat):
                # Alternate the two on the same server so load changes hit both alike.
                esplora = EsploraBackend(info["esplora"], network="regtest", concurrency=args.concurrency, timeout_s=60)
                ours_e.append((await ours(esplora, desc, args.gap, batch))[0])
                await esplora.close()
                bdks.append(
                    (await asyncio.to_thread(bdk_full_scan, info["esplora"], desc, args.gap, args.concurrency))[0]
                )
                print(f"round {n + 1}: ours esplora {ours_e[-1]:.2f}s, bdk esplora {bdks[-1]:.2f}s")
            mo, mb = statistics.median(ours_e), statistics.median(bdks)
            print(f"median over {len(ours_e)}: ours esplora {mo:.2f}s, bdk esplora {mb:.2f}s")
            print(f"ratio bdk/ours (esplora): {mb / mo:.2f}x  (>= 1.0 means ours is at least as fast)")
            print(f"ratio bdk-esplora/ours-electrum: {mb / dt_x:.2f}x")
        if args.store:
            await through_the_service(info, desc, expected)
    finally:
        proc.terminate()
        proc.wait(10)


async def core_side(
    info: dict[str, Any], desc: str, expected: dict[str, int], gap: int, batch: int, concurrency: int
) -> None:
    """Bitcoin Core: first sync = createwallet + importdescriptors (the node's rescan) + our scan of
    the wallet's view; incremental = listsinceblock from the last block + statuses compared."""
    from app.bitcoin.descriptors import parse_wallet_source

    d = parse_wallet_source(desc, Network.REGTEST)
    descs = (d.receive_descriptor, d.change_descriptor)
    core = CoreBackend(
        info["core"]["rpcUrl"],
        network="regtest",
        cookie_file=Path(info["core"]["cookieFile"]),
        concurrency=concurrency,
        timeout_s=120,
    )
    try:
        wallet_id = f"bench{int(time.time())}"
        t = time.perf_counter()
        view = await core.bind(wallet_id, descs)
        dt_import = time.perf_counter() - t
        requests_before = core.requests
        dt_scan, r_c, _sc = await ours(view, desc, gap, batch)  # type: ignore[arg-type]
        ok = figures(r_c) == expected
        print(
            f"ours  core     first sync: {dt_import + dt_scan:7.2f}s  (wallet import + node rescan "
            f"{dt_import:.2f}s, scan {dt_scan:.2f}s)  rpc calls={core.requests - requests_before} "
            f"txs={len(r_c.active_txs)}  {'OK' if ok else 'MISMATCH ' + str(figures(r_c))}"
        )
        inc = []
        for _ in range(3):
            view = await core.bind(wallet_id, descs)
            before = core.requests
            dt, r = await incremental(view, desc, gap, batch, r_c)  # type: ignore[arg-type]
            assert not r.rebuilt, "nothing new on the chain: the incremental sync must find nothing"
            inc.append((dt, core.requests - before))
        print("ours  core     incremental (nothing new): " + ", ".join(f"{dt * 1000:.0f}ms/{n} rpc" for dt, n in inc))
    finally:
        await core.close()


async def through_the_service(info: dict[str, Any], desc: str, expected: dict[str, int]) -> None:
    """End to end: import into a container on a temp SQLite database, first sync (scan + store in
    one transaction), then an incremental sync with nothing new, over each protocol."""
    from app.bitcoin.networks import Network
    from app.config import Settings
    from app.container import Container
    from app.services.wallets import ImportWalletInput

    for backend in ("esplora", "electrum", "core"):
        with tempfile.TemporaryDirectory() as tmp:
            chain: dict[str, Any] = {
                "esplora": {"regtest_esplora_url": info["esplora"]},
                "electrum": {
                    "chain_backend": "electrum",
                    "regtest_electrum_url": f"tcp://{info['electrum']['host']}:{info['electrum']['port']}",
                },
                "core": {
                    "chain_backend": "core",
                    "core_rpc_url": info["core"]["rpcUrl"],
                    "core_rpc_cookie_file": info["core"]["cookieFile"],
                    "core_wallet_prefix": f"svc{int(time.time())}-",
                },
            }[backend]
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=Path(tmp),
                secret_key="0" * 64,
                price_poll_enabled=False,
                log_level="warning",
                sync_interval_s=3600,
                **chain,
            )
            c = Container(settings)
            await c.start()
            try:
                user = await c.accounts.create_user("bench@example.com", "correct horse battery staple")
                t = time.perf_counter()
                view = await c.wallets.import_wallet(
                    user.id, ImportWalletInput(name="whale", source=desc, network=Network.REGTEST)
                )
                while True:
                    st = await c.sync.state(user.id, view.id)
                    if st.status in ("SYNCED", "ERROR") and not c.supervisor.running(f"sync:{view.id}"):
                        break
                    await asyncio.sleep(0.05)
                first = time.perf_counter() - t
                ok = (st.confirmed, st.unconfirmed, st.tx_count, st.utxo_count) == (
                    expected["confirmed"],
                    expected["unconfirmed"],
                    expected["txCount"],
                    expected["utxoCount"],
                )
                incs = []
                for _ in range(3):
                    t = time.perf_counter()
                    job = await c.sync.sync_now(user.id, view.id)
                    assert job.status == "SUCCEEDED", job.error
                    incs.append(time.perf_counter() - t)
                print(
                    f"service {backend:8s} import + first sync stored (SQLite): {first:6.2f}s "
                    f"{'OK' if ok else 'MISMATCH'}; incremental syncs (job end to end): "
                    + ", ".join(f"{x * 1000:.0f}ms" for x in incs)
                )
            finally:
                await c.stop()


if __name__ == "__main__":
    asyncio.run(main())
