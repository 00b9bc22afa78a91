"""Derivation rate: scriptPubKeys per second on one core.

    .venv/bin/python bench/derivation.py [--count 20000] [--repeat 3]

Measures, for a BIP84 zpub (P2WPKH) and a 2-of-3 P2WSH sortedmulti wallet:
- ours: ``ScriptPubKeyDeriver.script_pubkeys`` (chain key derived once, last step via
  libsecp256k1 directly), bytes only;
- embit naive: ``HDKey.derive([i])`` on the chain-level key per index + embit script building;
- ours + address strings (embit's pure-Python bech32), to show why addresses are encoded lazily.
Prints the best of ``--repeat`` runs, per second of CPU time of the one thread doing the work
(``--wall`` for wall-clock time).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

from embit import script as escript
from embit.bip32 import HDKey

from app.bitcoin.addresses import address_from_script
from app.bitcoin.derive import ScriptPubKeyDeriver, derive_xpub, secp256k1_backend
from app.bitcoin.descriptors import Chain, parse_wallet_source
from app.bitcoin.multisig import CosignerSpec, build_multisig
from app.bitcoin.networks import Network

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
# BIP32 test vector 1 and 2 public keys, used as three unrelated cosigners.
COSIGNERS = [
    "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
    "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
    "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
]


def best_rate(fn: Callable[[], int], repeat: int) -> float:
    """Best rate over ``repeat`` runs, per second of this thread's CPU time (one core).

    CPU time rather than wall time keeps the figure meaningful on a shared, busy machine;
    ``--wall`` switches to wall-clock time.
    """
    clock = time.perf_counter if WALL else time.thread_time
    best = 0.0
    for _ in range(repeat):
        t0 = clock()
        n = fn()
        best = max(best, n / (clock() - t0))
    return best


WALL = False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--wall", action="store_true", help="measure wall-clock instead of CPU time")
    args = ap.parse_args()
    global WALL
    WALL = args.wall
    n, repeat = args.count, args.repeat
    net = Network.MAINNET

    single = parse_wallet_source(ZPUB, net)
    multi, _ = build_multisig(
        net,
        2,
        [
            CosignerSpec(x, fingerprint="00000000", derivation_path=p)
            for x, p in zip(COSIGNERS, ["m/0h", "m/0", "m/0h/1"], strict=True)
        ],
    )

    def ours(desc):  # type: ignore[no-untyped-def]
        def run() -> int:
            return len(ScriptPubKeyDeriver(desc, Chain.RECEIVE).script_pubkeys(0, n))

        return run

    def ours_with_addresses(desc):  # type: ignore[no-untyped-def]
        def run() -> int:
            spks = ScriptPubKeyDeriver(desc, Chain.RECEIVE).script_pubkeys(0, n)
            return len([address_from_script(s, net) for s in spks])

        return run

    def embit_chain_keys(desc):  # type: ignore[no-untyped-def]
        keys = []
        for k in desc.keys:
            x = derive_xpub(k.xpub, (*k.steps, k.chains[0]))
            keys.append(HDKey.from_string(x.to_base58()))
        return keys

    def embit_single(desc):  # type: ignore[no-untyped-def]
        (chain_key,) = embit_chain_keys(desc)

        def run() -> int:
            out = [escript.p2wpkh(chain_key.derive([i]).key).data for i in range(n)]
            return len(out)

        return run

    def embit_multi(desc):  # type: ignore[no-untyped-def]
        chain_keys = embit_chain_keys(desc)

        def run() -> int:
            out = []
            for i in range(n):
                pubs = sorted(k.derive([i]).key.sec() for k in chain_keys)
                ws = escript.Script(b"\x52" + b"".join(b"\x21" + p for p in pubs) + b"\x53\xae")
                out.append(escript.p2wsh(ws).data)
            return len(out)

        return run

    print(
        f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpu(s), "
        f"Python {platform.python_version()}, secp256k1 backend: {secp256k1_backend()}"
    )
    print(f"indexes per run: {n}, best of {repeat}, per second of {'wall' if WALL else 'CPU'} time, one thread")
    rows = [
        ("zpub P2WPKH", ours(single), embit_single(single), ours_with_addresses(single)),
        ("2-of-3 P2WSH", ours(multi), embit_multi(multi), ours_with_addresses(multi)),
    ]
    print(f"{'wallet':<14} {'ours spk/s':>12} {'embit naive':>12} {'ratio':>6} {'ours+address':>13}")
    for name, fast, naive, with_addr in rows:
        r_fast = best_rate(fast, repeat)
        r_naive = best_rate(naive, repeat)
        r_addr = best_rate(with_addr, repeat)
        print(f"{name:<14} {r_fast:>12,.0f} {r_naive:>12,.0f} {r_fast / r_naive:>5.2f}x {r_addr:>13,.0f}")


if __name__ == "__main__":
    main()
