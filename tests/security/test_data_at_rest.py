"""Data at rest: owner-only files, the start-up key check, key rotation, key material in labels.

Real processes where a user would run one (`mbf serve`, `mbf secrets rotate`, `mbf wallet import`),
the container (the server's own start-up path) to seed and read back data.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.config import Settings
from app.container import Container
from app.security.crypto import Keyring, key_id
from app.security.encrypted_columns import ENCRYPTED_COLUMNS
from app.security.keystore import KeyMismatch
from app.store import migrate
from app.store.db import Store
from app.store.models import metadata
from tests.conftest import make_settings
from tests.support.secret_data import ACCOUNT84, ZPUB, Seeded, assert_all_readable, seed
from tests.support.server import GraphQLClient, error_codes, live_server

ROOT = Path(__file__).resolve().parents[2]
MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]
OTHER_KEY = "1" * 64


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
    env.update(
        {
            "MBF_DATA_DIR": str(settings.data_dir),
            "MBF_DATABASE_URL": settings.effective_database_url,
            "MBF_LOG_LEVEL": "warning",
            "MBF_PRICE_POLL_ENABLED": "false",
            "MBF_ESPLORA_URL": settings.esplora_url or "http://127.0.0.1:9",
            "MBF_CHAIN_RETRIES": "0",
        }
    )
    if settings.secret_key is not None:
        env["MBF_SECRET_KEY"] = settings.secret_key.get_secret_value()
    env.update(extra)
    return env


def mbf(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MBF, *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def settings_for(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Test settings whose chain server is a closed local port (imports start a sync that fails fast)."""
    values: dict[str, Any] = {"esplora_url": "http://127.0.0.1:9", "chain_retries": 0, **overrides}
    return make_settings(tmp_path, database_url, **values)


def keyfile_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings whose key lives in ``<data dir>/secret.key`` (what rotation rewrites)."""
    return settings_for(tmp_path, database_url, secret_key=None)


async def seeded(settings: Settings) -> Seeded:
    c = Container(settings)
    await c.start()
    try:
        s = await seed(c)
        # The imports started first syncs (failing fast on a closed port): let them write their outcome before
        # the container stops, so no cancelled SQLite write is left holding the lock the CLI then waits on.
        for wallet_id in (s.wallet_id, s.multisig_id):
            job = await c.sync.request_sync(s.user_id, wallet_id)
            await c.sync.wait(s.user_id, job.id, timeout=60)
        return s
    finally:
        await c.stop()


async def readable(settings: Settings, s: Seeded) -> None:
    c = Container(settings)
    await c.start()
    try:
        await assert_all_readable(c, s)
    finally:
        await c.stop()


async def refused_at_start(settings: Settings) -> None:
    c = Container(settings)
    try:
        with pytest.raises(KeyMismatch, match="MBF_SECRET_KEY"):
            await c.start()
    finally:
        await c.stop()


async def key_ids_in_database(settings: Settings) -> set[str]:
    """The key id of every ciphertext stored (what a rotation must have moved to the new key)."""
    store = Store(settings.effective_database_url)
    ids: set[str] = set()
    try:
        async with store.engine.connect() as conn:
            for ec in ENCRYPTED_COLUMNS:
                col = sa.column(ec.column)
                rows = await conn.execute(sa.select(col).select_from(sa.table(ec.table)).where(col.is_not(None)))
                ids |= {Keyring.key_id_of(r[0]) or "?" for r in rows}
    finally:
        await store.dispose()
    return ids


# ---------------------------------------------------------------------------------- permissions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
async def test_serve_keeps_the_data_directory_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # A report folder left world-readable by an earlier version: tightened at start-up.
    old_report = data / "reports" / "01USER" / "old.csv"
    old_report.parent.mkdir(parents=True)
    old_report.write_text("date,amount\n")
    os.chmod(data, 0o755)
    os.chmod(old_report.parent, 0o755)
    os.chmod(old_report, 0o644)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
    env.update({"MBF_DATA_DIR": str(data), "MBF_LOG_LEVEL": "warning", "MBF_PRICE_POLL_ENABLED": "false"})
    proc = await asyncio.create_subprocess_exec(
        *MBF, "serve", "--port", str(port), env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.returncode is None and time.monotonic() < deadline, "server did not become ready"
                await asyncio.sleep(0.1)
            # a write, so the WAL and shared-memory files exist
            reg = 'mutation { register(input: {email: "p@example.com", password: "abcdefghijklmnop"}) { token } }'
            assert (await http.post("/graphql", json={"query": reg})).status_code == 200
            files = ["mbf.sqlite3", "mbf.sqlite3-wal", "mbf.sqlite3-shm", "secret.key"]
            modes = {name: oct(_mode(data / name)) for name in files}
            assert modes == dict.fromkeys(files, "0o600"), modes
            assert oct(_mode(data)) == "0o700"
            assert oct(_mode(old_report)) == "0o600" and oct(_mode(old_report.parent)) == "0o700"
            assert oct(_mode(data / "reports")) == "0o700"
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)


# ---------------------------------------------------------------------------------- key check


def test_every_encrypted_column_is_known_to_rotation_and_backup() -> None:
    declared = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns if c.name.endswith("_enc")}
    listed = {(ec.table, ec.column) for ec in ENCRYPTED_COLUMNS}
    assert declared == listed, "add new *_enc columns to app/security/encrypted_columns.py"


async def test_wrong_key_stops_serve_and_cli_with_one_line(tmp_path: Path, database_url: str) -> None:
    settings = settings_for(tmp_path, database_url)
    s = await seeded(settings)
    wrong = cli_env(settings, MBF_SECRET_KEY=OTHER_KEY)

    served = mbf(wrong, "serve", "--port", str(_free_port()))
    assert served.returncode == 2
    last = served.stderr.strip().splitlines()[-1]
    assert "Traceback" not in served.stderr and served.stderr.count("secret key check failed") == 1, served.stderr
    assert last.startswith("secret key check failed") and "MBF_SECRET_KEY" in last

    # With the wrong key, re-importing cannot create a silent duplicate: it is refused the same way.
    again = mbf(wrong, "wallet", "import", "-u", "owner@example.com", "--name", "Again", ZPUB)
    assert again.returncode == 2 and "secret key check failed" in again.stderr
    await readable(settings, s)  # the right key still reads everything; still one wallet per source


async def test_database_from_before_the_canary_is_checked_then_upgraded(
    any_engine: str, tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url)
    # Written as a version without the key store did: services used without the start-up key check,
    # so fingerprints are keyed by the (legacy) key-derived root and there is no canary.
    legacy = Container(settings)
    try:
        await migrate.upgrade(legacy.store)
        s = await seed(legacy)
        async with legacy.store.read() as session:
            assert (await (await session.connection()).execute(sa.text("SELECT count(*) FROM key_store"))).scalar() == 0
    finally:
        await legacy.stop()

    await refused_at_start(settings_for(tmp_path, database_url, secret_key=OTHER_KEY))
    # The right key: canary written, and the existing fingerprints still detect duplicates.
    await readable(settings, s)
    await refused_at_start(settings_for(tmp_path, database_url, secret_key=OTHER_KEY))


# ---------------------------------------------------------------------------------- rotation


async def test_rotate_reencrypts_everything_and_duplicates_still_conflict(
    any_engine: str, tmp_path: Path, database_url: str
) -> None:
    settings = keyfile_settings(tmp_path, database_url)
    s = await seeded(settings)
    old_material = (tmp_path / "secret.key").read_text().strip()
    old_id = key_id(bytes.fromhex(old_material))
    assert await key_ids_in_database(settings) == {old_id}

    out = mbf(cli_env(settings), "secrets", "rotate")
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["oldKeyId"] == old_id and result["keyId"] != old_id and result["resumed"] is False
    assert result["reencrypted"]["wallets.descriptor_enc"] == 2
    assert result["reencrypted"]["wallets.cosigners_enc"] == 1
    assert result["reencrypted"]["wallet_labels.ref_enc"] == 1
    assert result["reencrypted"]["users.totp_secret_enc"] == 1
    assert result["reencrypted"]["lightning_nodes.macaroon_enc"] == 1
    new_material = (tmp_path / "secret.key").read_text().strip()
    assert key_id(bytes.fromhex(new_material)) == result["keyId"]
    assert old_material in (tmp_path / "secret.key.retired").read_text()
    assert oct(_mode(tmp_path / "secret.key")) == "0o600" and oct(_mode(tmp_path / "secret.key.retired")) == "0o600"
    assert not (tmp_path / "secret.key.new").exists()
    assert await key_ids_in_database(settings) == {result["keyId"]}

    # Once every row is under the new key, the retired key is not needed for the data.
    (tmp_path / "secret.key.retired").unlink()
    await readable(settings, s)
    dup = mbf(cli_env(settings), "wallet", "import", "-u", "owner@example.com", "--name", "Again", ZPUB)
    assert dup.returncode == 2 and "already have this wallet" in dup.stderr
    # The old key alone no longer opens the database.
    await refused_at_start(settings_for(tmp_path, database_url, secret_key=old_material))


async def test_rotate_with_a_given_key_from_the_environment(tmp_path: Path, database_url: str) -> None:
    settings = settings_for(tmp_path, database_url)  # MBF_SECRET_KEY
    s = await seeded(settings)
    (tmp_path / "next.key").write_text("2" * 64 + "\n")
    out = mbf(cli_env(settings), "secrets", "rotate", "--new-key-file", str(tmp_path / "next.key"))
    assert out.returncode == 0, out.stderr
    assert "unset it" in out.stderr and str(tmp_path / "secret.key") in out.stderr
    assert (tmp_path / "secret.key").read_text().strip() == "2" * 64
    await readable(settings_for(tmp_path, database_url, secret_key=None), s)  # the variable dropped
    await readable(settings_for(tmp_path, database_url, secret_key="2" * 64), s)  # or set to the new key


@pytest.mark.slow
async def test_rotate_killed_midway_then_rerun(tmp_path: Path, database_url: str) -> None:
    settings = keyfile_settings(tmp_path, database_url)
    s = await seeded(settings)
    old_material = (tmp_path / "secret.key").read_text()
    db_path = database_url.split("///", 1)[1]
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: the rotation waits inside
    proc = await asyncio.create_subprocess_exec(
        *MBF, "secrets", "rotate", env=cli_env(settings), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "secret.key.new").exists():  # the new key is saved: now inside the database step
            assert proc.returncode is None and time.monotonic() < deadline
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (tmp_path / "secret.key").read_text() == old_material  # nothing swapped
    await readable(settings, s)  # the old key still reads everything (the pending key is also known)

    out = mbf(cli_env(settings), "secrets", "rotate")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["resumed"] is True
    assert await key_ids_in_database(settings) == {result["keyId"]}
    await readable(settings, s)


async def test_rotate_failing_after_commit_then_rerun(tmp_path: Path, database_url: str) -> None:
    settings = keyfile_settings(tmp_path, database_url)
    s = await seeded(settings)
    proc = await asyncio.create_subprocess_exec(
        *MBF, "secrets", "rotate", env=cli_env(settings), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # The first write after the database commit is the retired-key file, through a temp file named
    # after the process: a directory in its place makes exactly that step fail.
    blocker = tmp_path / f".secret.key.retired.{proc.pid}.tmp"
    blocker.mkdir()
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 2 and b"error:" in err and b"Traceback" not in err, err
    assert (tmp_path / "secret.key.new").exists() and not (tmp_path / "secret.key.retired").exists()
    await readable(settings, s)  # between commit and key swap both keys are known: the server works
    blocker.rmdir()
    out = mbf(cli_env(settings), "secrets", "rotate")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["resumed"] is True and sum(result["reencrypted"].values()) == 0  # already under the new key
    assert not (tmp_path / "secret.key.new").exists()
    await readable(settings, s)


async def test_readyz_unready_when_the_key_is_rotated_under_a_running_server(tmp_path: Path, database_url: str) -> None:
    settings = keyfile_settings(tmp_path, database_url)
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        assert (await http.get("/readyz")).status_code == 200
        out = mbf(cli_env(settings), "secrets", "rotate")
        assert out.returncode == 0, out.stderr
        assert (await http.get("/readyz")).status_code == 503
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        assert (await http.get("/readyz")).status_code == 200  # a restart picks up the new key


# ---------------------------------------------------------------------------------- labels


async def test_xpub_labels_are_encrypted_and_key_material_elsewhere_refused(
    any_engine: str, tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url)
    async with live_server(settings) as srv:
        gql = GraphQLClient(srv.url)
        gql.token = await gql.register("labels@example.com")
        imp = await gql(
            "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
            {"i": {"name": "W", "network": "MAINNET", "source": ZPUB}},
        )
        wid = imp["data"]["importWallet"]["id"]
        jsonl = f'{{"type":"xpub","ref":"{ACCOUNT84}","label":"account 0"}}\n'
        body = await gql(
            "mutation($w: ID!, $j: String!) { importLabels(walletId: $w, jsonl: $j) }", {"w": wid, "j": jsonl}
        )
        assert body["data"]["importLabels"] == 1
        exported = await gql("mutation($w: ID!) { exportLabels(walletId: $w) }", {"w": wid})
        assert exported["data"]["exportLabels"] == f'{{"type":"xpub","ref":"{ACCOUNT84}","label":"account 0"}}\n'
        # importing the same record again updates it (the blind index matches), no second row
        again = jsonl.replace("account 0", "account zero")
        await gql("mutation($w: ID!, $j: String!) { importLabels(walletId: $w, jsonl: $j) }", {"w": wid, "j": again})
        async with srv.container.store.read() as s:
            conn = await s.connection()
            rows = (await conn.execute(sa.text("SELECT ref, ref_enc, label FROM wallet_labels"))).all()
        assert len(rows) == 1 and rows[0][2] == "account zero"
        assert ACCOUNT84 not in rows[0][0] and ACCOUNT84 not in rows[0][1] and rows[0][0].startswith("k:")

        bad = [
            f'{{"type":"tx","ref":"{"a" * 64}","label":"my key {ACCOUNT84}"}}',  # an xpub in a label text
            f'{{"type":"pubkey","ref":"{ACCOUNT84}","label":"x"}}',  # an xpub under another type
            '{"type":"xpub","ref":"xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi","label":"x"}',
        ]
        for line in bad:
            body = await gql(
                "mutation($w: ID!, $j: String!) { importLabels(walletId: $w, jsonl: $j) }",
                {"w": wid, "j": line},
                expect_errors=True,
            )
            assert error_codes(body) == ["BAD_USER_INPUT"], body
            assert body["errors"][0]["extensions"].get("field") == "jsonl"
        set_bad = await gql(
            "mutation($w: ID!, $r: String!, $l: String!) { setLabel(walletId: $w, ref: $r, label: $l) { label } }",
            {"w": wid, "r": "a" * 64, "l": ACCOUNT84},
            expect_errors=True,
        )
        assert error_codes(set_bad) == ["BAD_USER_INPUT"]
        await gql.aclose()
