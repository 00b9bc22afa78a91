"""BDK full scan of a dev-chain scenario wallet over Esplora and Electrum, with the devchain in its own
process (`mbf devchain`). Prints sync time, the balance check and the devchain's memory.

    .venv/bin/python bench/devchain_bdk_sync.py [scenario] [latency_ms]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bdkpython as bdk


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wallet_for(w: dict) -> bdk.Wallet:  # type: ignore[type-arg]
    return bdk.Wallet(
        bdk.Descriptor(w["descriptors"]["receive"], bdk.NetworkKind.TEST),
        bdk.Descriptor(w["descriptors"]["change"], bdk.NetworkKind.TEST),
        bdk.Network.REGTEST,
        bdk.Persister.new_in_memory(),
    )


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 else "big"
    latency = sys.argv[2] if len(sys.argv) > 2 else "0"
    mbf = Path(sys.executable).parent / "mbf"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(mbf), "devchain", "--scenario", scenario, "--latency-ms", latency, "--data-dir", tmp],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            print(f"{scenario}: devchain ready in {time.perf_counter() - t0:.2f}s, rss {rss_mb(proc.pid):.0f} MB")
            for w in info["wallets"]:
                exp = w["expected"]
                for kind in ("esplora", "electrum"):
                    wallet = wallet_for(w)
                    t0 = time.perf_counter()
                    if kind == "esplora":
                        update = bdk.EsploraClient(info["esplora"]).full_scan(wallet.start_full_scan().build(), 20, 8)
                    else:
                        client = bdk.ElectrumClient(f"tcp://127.0.0.1:{info['electrum']['port']}")
                        update = client.full_scan(wallet.start_full_scan().build(), 20, 100, True)
                    wallet.apply_update(update)
                    dt = time.perf_counter() - t0
                    total = wallet.balance().total.to_sat()
                    ok = total == exp["confirmed"] + exp["unconfirmed"] and len(wallet.transactions()) == exp["txCount"]
                    print(
                        f"  {w['name']:6s} {kind:8s} {dt:7.2f}s txs={len(wallet.transactions()):6d} "
                        f"balance={total} match={ok} devchain_rss={rss_mb(proc.pid):.0f} MB",
                        flush=True,
                    )
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
