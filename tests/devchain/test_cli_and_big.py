"""`mbf devchain` as a process, and the big scenario (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.dev.devchain.ledger import wallet_figures
from app.dev.devchain.runner import DevChain

MBF = Path(sys.executable).parent / "mbf"


@pytest.mark.skipif(not MBF.exists(), reason="the mbf entry point is not installed (pip install -e .)")
def test_cli_prints_one_json_object_and_obeys_control_flags(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(MBF), "devchain", "--scenario", "rbf", "--seed", "2", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert info["network"] == "regtest" and info["scenario"] == "rbf" and info["seed"] == 2
        assert info["esplora"].startswith("http://127.0.0.1:")
        assert info["electrum"]["port"] and info["electrum"]["tlsPort"]
        assert Path(info["electrum"]["tlsCertPath"]).exists()
        height = info["tip"]["height"]
        assert httpx.get(info["esplora"] + "/blocks/tip/height", timeout=10).text == str(height)
        out = subprocess.run(
            [str(MBF), "devchain", "--control-url", info["control"], "--mine", "2"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(out.stdout)["height"] == height + 2
        addr = info["wallets"][0]["firstAddress"]
        out = subprocess.run(
            [str(MBF), "devchain", "--control-url", info["control"], "--send", f"{addr}:12345"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        txid = json.loads(out.stdout)["txid"]
        assert httpx.get(f"{info['esplora']}/tx/{txid}/status", timeout=10).json() == {"confirmed": False}
        bad = subprocess.run(
            [str(MBF), "devchain", "--control-url", info["control"], "--send", "nope"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 2
    finally:
        proc.terminate()
        proc.wait(30)


def test_cli_rejects_unknown_scenario(tmp_path: Path) -> None:
    if not MBF.exists():
        pytest.skip("the mbf entry point is not installed")
    res = subprocess.run(
        [str(MBF), "devchain", "--scenario", "huge", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "unknown scenario" in res.stderr


@pytest.mark.slow
def test_big_scenario(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    # the generated chain is cached across runs in pytest's cache dir (keyed by cache version and seed)
    cache = getattr(request.config, "cache", None)
    data_dir = cache.mkdir("devchain") if cache is not None else tmp_path_factory.mktemp("big")
    dc = DevChain.build("big", seed=1, data_dir=data_dir)
    (whale,) = dc.state.wallets
    assert whale.next_index[0] >= 2000  # used receive addresses
    exp = dc.initial_expected["whale"]
    assert exp["txCount"] >= 10_000
    assert wallet_figures(dc.state.chain, whale) == exp
    again = DevChain.build("big", seed=1, data_dir=data_dir)
    assert again.from_cache and again.state.chain.tip.hash == dc.state.chain.tip.hash
