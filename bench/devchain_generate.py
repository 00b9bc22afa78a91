"""Dev chain generation time per scenario (first run and from the data-dir cache).

.venv/bin/python bench/devchain_generate.py [scenario ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from app.dev.devchain.runner import DevChain


def main() -> None:
    scenarios = sys.argv[1:] or ["small", "reorg", "rbf", "big"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in scenarios:
            t0 = time.perf_counter()
            dc = DevChain.build(name, seed=1, data_dir=Path(tmp))
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            dc2 = DevChain.build(name, seed=1, data_dir=Path(tmp))
            cached = time.perf_counter() - t0
            assert dc2.from_cache
            ch = dc.state.chain
            wallet_txs = sum(e["txCount"] for e in dc.initial_expected.values())
            used = sum(w.next_index[0] + w.next_index[1] for w in dc.state.wallets)
            print(
                f"{name:6s} first={first:7.2f}s cached={cached:6.2f}s blocks={ch.height:5d} "
                f"txs={len(ch.txs):6d} wallet_txs={wallet_txs:6d} used_addresses={used:5d} "
                f"mempool={len(ch.mempool)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
