"""`mbf wallet import|show` as a user runs it: a real process on a fresh data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.wallets.test_import_api import ACCOUNT84, XPRV, ZPUB

ROOT = Path(__file__).resolve().parents[2]
MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MBF, *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


@pytest.mark.slow
def test_wallet_import_and_show(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
    env.update({"MBF_DATA_DIR": str(tmp_path), "MBF_LOG_LEVEL": "warning", "COLUMNS": "200"})
    user = "carol@example.com"
    assert run(env, "user", "create", user, "--password-stdin", stdin="a long enough password\n").returncode == 0

    imported = run(env, "wallet", "import", "-u", user, "--name", "Cold", "--json", "-", stdin=ZPUB + "\n")
    assert imported.returncode == 0, imported.stderr
    data = json.loads(imported.stdout.strip().splitlines()[-1])
    assert data["scriptType"] == "P2WPKH" and data["descriptor"].startswith(f"wpkh({ACCOUNT84}/<0;1>/*)#")
    assert data["addresses"][0] == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"

    table = run(env, "wallet", "show", "-u", user)
    assert table.returncode == 0 and "Cold" in table.stdout and data["id"] in table.stdout
    one = run(env, "wallet", "show", "-u", user, data["id"], "--chain", "change", "--addresses", "1", "--json")
    shown = json.loads(one.stdout.strip().splitlines()[-1])
    assert [a["address"] for a in shown["addresses"]] == ["bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"]
    pretty = run(env, "wallet", "show", "-u", user, data["id"])
    assert "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu" in pretty.stdout

    refused = run(env, "wallet", "import", "-u", user, XPRV)
    assert refused.returncode == 2 and "watch-only" in refused.stderr and XPRV not in refused.stderr
    dup = run(env, "wallet", "import", "-u", user, ZPUB)
    assert dup.returncode == 2 and "already have this wallet" in dup.stderr
    nobody = run(env, "wallet", "show", "-u", "nobody@example.com")
    assert nobody.returncode == 2 and "no user" in nobody.stderr
    missing = run(env, "wallet", "show", "-u", user, "01XXXXXXXXXXXXXXXXXXXXXXXX")
    assert missing.returncode == 2 and "No such wallet" in missing.stderr
