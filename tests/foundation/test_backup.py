"""`mbf backup` / `mbf restore` as an operator runs them: real processes, SQLite and PostgreSQL.

The round trip: a user's synced wallet (dev chain), labels with an xpub record, a backup taken
while the server runs, the database wiped, a restore into a fresh data directory (the key comes
from the archive), and a new server that answers the same queries identically.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.config import Settings
from app.dev.devchain.runner import ThreadedDevChain
from tests.conftest import TEST_SECRET, make_settings
from tests.devchain.conftest import devchain_small  # noqa: F401  (fixture)
from tests.support.secret_data import ACCOUNT84
from tests.support.server import GraphQLClient, live_server

ROOT = Path(__file__).resolve().parents[2]
MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]
PASSPHRASE = "a backup passphrase for tests\n"

ANSWERS = """query($id: ID!) {
  wallets(first: 50) { totalCount edges { node { id name } } }
  wallet(id: $id) {
    id name network descriptor syncStatus balance { confirmed unconfirmed total }
    addresses(first: 200, used: true) { totalCount edges { node { address index chain balance txCount label } } }
  }
}"""
EXPORT = "mutation($w: ID!) { exportLabels(walletId: $w) }"
IMPORT_LABELS = "mutation($w: ID!, $j: String!) { importLabels(walletId: $w, jsonl: $j) }"


def cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
    env.update(
        {
            "MBF_DATA_DIR": str(settings.data_dir),
            "MBF_DATABASE_URL": settings.effective_database_url,
            "MBF_LOG_LEVEL": "warning",
        }
    )
    if settings.secret_key is not None:
        env["MBF_SECRET_KEY"] = settings.secret_key.get_secret_value()
    return env


async def mbf(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process (awaited without blocking a live server running in this loop)."""
    proc = await asyncio.create_subprocess_exec(
        *MBF, *args, env=cli_env(settings), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())


def _remove_sqlite(url: str) -> None:
    db = make_url(url).database or ""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


async def wipe(settings: Settings) -> None:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        _remove_sqlite(url)
        return
    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username, database=u.database)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def answers(url: str, token: str, wallet_id: str) -> dict[str, Any]:
    gql = GraphQLClient(url)
    gql.token = token
    try:
        data = (await gql(ANSWERS, {"id": wallet_id}))["data"]
        data["labels"] = (await gql(EXPORT, {"w": wallet_id}))["data"]["exportLabels"]
        return data
    finally:
        await gql.aclose()


async def wait_synced(gql: GraphQLClient, wallet_id: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        w = (await gql("query($id: ID!) { wallet(id: $id) { syncStatus syncError } }", {"id": wallet_id}))["data"]
        status = w["wallet"]["syncStatus"]
        assert status != "ERROR", w
        if status == "SYNCED":
            return
        assert time.monotonic() < deadline, w
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_backup_wipe_restore_gives_identical_answers(
    any_engine: str,
    tmp_path: Path,
    database_url: str,
    devchain_small: ThreadedDevChain,  # noqa: F811
) -> None:
    chain = {"regtest_esplora_url": devchain_small.esplora_url, "sync_interval_s": 3600, "price_poll_enabled": False}
    settings = make_settings(tmp_path / "live", database_url, **chain)
    funded = next(w for w in devchain_small.info["wallets"] if w["expected"]["confirmed"] > 0)
    passfile = tmp_path / "passphrase"
    passfile.write_text(PASSPHRASE)
    archive = tmp_path / "offsite" / "nightly.mbfbak"

    async with live_server(settings) as srv:
        gql = GraphQLClient(srv.url)
        token = await gql.register("saver@example.com")
        gql.token = token
        imp = await gql(
            "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
            {"i": {"name": "Savings", "network": "REGTEST", "source": funded["descriptor"]}},
        )
        wid = imp["data"]["importWallet"]["id"]
        await wait_synced(gql, wid)
        used = await gql(
            "query($id: ID!) { wallet(id: $id) { addresses(first: 1, used: true) { edges { node { address } } } } }",
            {"id": wid},
        )
        first_used = used["data"]["wallet"]["addresses"]["edges"][0]["node"]["address"]
        labels = (
            f'{{"type":"addr","ref":"{first_used}","label":"salary"}}\n'
            f'{{"type":"xpub","ref":"{ACCOUNT84}","label":"old account"}}\n'
        )
        await gql(IMPORT_LABELS, {"w": wid, "j": labels})
        await gql.aclose()
        before = await answers(srv.url, token, wid)
        assert before["wallet"]["balance"]["confirmed"] == funded["expected"]["confirmed"] > 0
        assert "salary" in json.dumps(before) and ACCOUNT84 in before["labels"]

        # taken while the server runs
        made = await mbf(settings, "backup", "--output", str(archive), "--passphrase-file", str(passfile))
        assert made.returncode == 0, made.stderr
        info = json.loads(made.stdout)
        assert info["includesKeys"] is True and info["counts"]["wallets"] == 1 and info["counts"]["users"] == 1
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    raw = archive.read_bytes()
    assert b"salary" not in raw and ACCOUNT84.encode() not in raw and b"saver@example.com" not in raw

    await wipe(settings)
    # A fresh data directory without MBF_SECRET_KEY: the key comes out of the archive.
    restored_settings = make_settings(tmp_path / "new", database_url, secret_key=None, **chain)
    done = await mbf(restored_settings, "restore", str(archive), "--passphrase-file", str(passfile))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["counts"] == info["counts"] and result["revision"] == info["revision"]
    assert (tmp_path / "new" / "secret.key").read_text().strip() == TEST_SECRET
    assert oct((tmp_path / "new" / "secret.key").stat().st_mode & 0o777) == "0o600"

    async with live_server(restored_settings) as srv:
        after = await answers(srv.url, token, wid)  # the old session token is restored too
    assert after == before  # same wallet, balance, used addresses, labels; the descriptor decrypted

    # Restoring over data needs --force.
    again = await mbf(restored_settings, "restore", str(archive), "--passphrase-file", str(passfile))
    assert again.returncode == 2 and "already holds data" in again.stderr and "--force" in again.stderr
    forced = await mbf(restored_settings, "restore", str(archive), "--passphrase-file", str(passfile), "--force")
    assert forced.returncode == 0, forced.stderr


@pytest.mark.timeout(600)  # several real CLI processes: over 120 s at load average 20
async def test_secret_key_mode_bad_archives_and_retention(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, price_poll_enabled=False)
    async with live_server(settings) as srv:
        gql = GraphQLClient(srv.url)
        await gql.register("k@example.com")
        await gql.aclose()
    folder = tmp_path / "backups"

    made = [await mbf(settings, "backup", "--keep", "2") for _ in range(3)]
    assert all(m.returncode == 0 for m in made), [m.stderr for m in made]
    # without a passphrase the archive does not carry the key, and the operator is told where it is
    assert "MBF_SECRET_KEY" in made[0].stderr and "NOT in the archive" in made[0].stderr
    kept = sorted(p.name for p in folder.glob("mbf-backup-*.mbfbak"))
    assert kept == sorted(Path(json.loads(m.stdout)["path"]).name for m in made[1:])
    assert json.loads(made[2].stdout)["deleted"] == [json.loads(made[0].stdout)["path"]]
    newest = folder / kept[-1]

    other = make_settings(tmp_path / "other", database_url, secret_key="1" * 64)
    wrong_key = await mbf(other, "restore", str(newest))
    assert wrong_key.returncode == 2 and "not configured" in wrong_key.stderr

    damaged = tmp_path / "damaged.mbfbak"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    bad = await mbf(settings, "restore", str(damaged), "--force")
    assert bad.returncode == 2 and "damaged" in bad.stderr

    truncated = tmp_path / "truncated.mbfbak"
    truncated.write_bytes(newest.read_bytes()[:-100])
    cut = await mbf(settings, "restore", str(truncated), "--force")
    assert cut.returncode == 2 and ("truncated" in cut.stderr or "damaged" in cut.stderr)

    passfile = tmp_path / "pass"
    passfile.write_text(PASSPHRASE)
    with_pass = await mbf(settings, "backup", "-o", str(tmp_path / "p.mbfbak"), "--passphrase-file", str(passfile))
    assert with_pass.returncode == 0, with_pass.stderr
    passfile.write_text("another passphrase entirely")
    wrong = await mbf(settings, "restore", str(tmp_path / "p.mbfbak"), "--passphrase-file", str(passfile))
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr
    missing = await mbf(settings, "restore", str(tmp_path / "p.mbfbak"))
    assert missing.returncode == 2 and "--passphrase-file" in missing.stderr

    ok = await mbf(settings, "restore", str(newest), "--force")  # the intact one, over the live data
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["counts"]["users"] == 1
