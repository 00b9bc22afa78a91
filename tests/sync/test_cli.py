"""``mbf wallet sync`` as a user runs it: a real process against a dev chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.dev.devchain.runner import start_in_thread

ROOT = Path(__file__).resolve().parents[2]
MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]


def test_wallet_sync_cli(tmp_path: Path) -> None:
    with start_in_thread(scenario="small", seed=1, data_dir=tmp_path / "chain") as chain:
        info = chain.info
        env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
        env.update(
            MBF_DATA_DIR=str(tmp_path / "data"),
            MBF_LOG_LEVEL="warning",
            MBF_PRICE_POLL_ENABLED="false",
            MBF_CHAIN_BACKEND="electrum",
            MBF_REGTEST_ELECTRUM_URL=f"tcp://{chain.electrum_host}:{chain.electrum_port}",
        )

        def mbf(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*MBF, *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
            )

        assert (
            mbf(
                "user", "create", "a@example.com", "--password-stdin", stdin="correct horse battery staple\n"
            ).returncode
            == 0
        )
        wallet = info["wallets"][2]
        imported = mbf(
            "wallet", "import", wallet["descriptor"], "--user", "a@example.com", "--network", "regtest", "--json"
        )
        assert imported.returncode == 0, imported.stderr
        wallet_id = json.loads(imported.stdout.strip().splitlines()[-1])["id"]

        out = mbf("wallet", "sync", wallet_id, "--user", "a@example.com", "--json")
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout.strip().splitlines()[-1])
        exp = wallet["expected"]
        assert got["job"] == "SUCCEEDED"
        assert (got["confirmed"], got["unconfirmed"], got["txCount"], got["utxoCount"]) == (
            exp["confirmed"],
            exp["unconfirmed"],
            exp["txCount"],
            exp["utxoCount"],
        )
        # The progress bar for people: the wallet name and the balance line.
        human = mbf("wallet", "sync", "--user", "a@example.com")
        assert human.returncode == 0, human.stderr
        assert f"{exp['confirmed'] + exp['unconfirmed']:,} sat" in human.stdout

        # A wallet that is not the user's: a clear error, exit code 2.
        bad = mbf("wallet", "sync", "01ABCDEFGHJKMNPQRSTVWXYZ00", "--user", "a@example.com")
        assert bad.returncode == 2 and "error" in bad.stderr
