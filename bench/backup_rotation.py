"""Benchmark: `mbf secrets rotate` and `mbf backup` on a SQLite database with many encrypted rows.

Run: ``.venv/bin/python bench/backup_rotation.py [--rows 20000] [--filler-mb 50]``.
Prints, in one run: rotation throughput (ciphertexts re-encrypted per second, one transaction), and backup
time for a plain SQLite online-backup copy beside the sealed archive in both key modes (ratio to the plain
copy = the cost of encryption + tar), and restore time. No targets are asserted; the figures are for
comparing changes on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from app.backup.service import create_backup, restore_backup
from app.backup.snapshot import sqlite_snapshot
from app.config import Settings
from app.ids import new_id
from app.security.crypto import Keyring
from app.security.keystore import open_keyring
from app.security.rotation import rotate_key
from app.store import migrate
from app.store.db import Store


async def seed(settings: Settings, rows: int, filler_mb: int) -> None:
    store = Store(settings.effective_database_url)
    await migrate.upgrade(store)
    keyring = Keyring.from_settings(settings)
    await open_keyring(store, keyring)
    users = sa.table(
        "users",
        *(
            sa.column(c)
            for c in ("id", "email", "password_hash", "role", "totp_secret_enc", "totp_enabled", "created_at")
        ),
    )
    events = sa.table("events", *(sa.column(c) for c in ("id", "user_id", "type", "occurred_at", "body")))
    from datetime import UTC, datetime

    now = datetime.now(UTC).replace(tzinfo=None)
    batch = []
    for i in range(rows):
        uid = new_id()
        batch.append(
            {
                "id": uid,
                "email": f"u{i}@example.com",
                "password_hash": "x",
                "role": "user",
                "totp_secret_enc": keyring.encrypt("JBSWY3DPEHPK3PXP", aad=uid),
                "totp_enabled": True,
                "created_at": now,
            }
        )
    async with store.engine.begin() as conn:
        await conn.execute(sa.insert(users), batch)
        body = "x" * 1000
        filler = [
            {"id": new_id(), "user_id": batch[i % rows]["id"], "type": "bench", "occurred_at": now, "body": body}
            for i in range(filler_mb * 1000)
        ]
        for start in range(0, len(filler), 5000):
            await conn.execute(sa.insert(events), filler[start : start + 5000])
    await store.dispose()


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--filler-mb", type=int, default=50)
    args = ap.parse_args()
    os.umask(0o077)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        settings = Settings(_env_file=None, data_dir=data, price_poll_enabled=False)  # type: ignore[call-arg]
        asyncio.run(seed(settings, args.rows, args.filler_mb))
        db = data / "mbf.sqlite3"
        sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        size_mb = db.stat().st_size / 1e6
        print(f"database: {size_mb:.1f} MB, {args.rows} encrypted rows (+ key store), load {os.getloadavg()[0]:.2f}")

        def rotate() -> dict[str, int]:
            async def go() -> dict[str, int]:
                store = Store(settings.effective_database_url)
                try:
                    return (await rotate_key(settings, store)).reencrypted
                finally:
                    await store.dispose()

            return asyncio.run(go())

        secs, counts = timed(rotate)
        n = sum(counts.values())
        print(
            f"rotate: {n} ciphertexts in {secs:.2f} s = {n / secs:,.0f} rows/s (one transaction, incl. start-up check)"
        )

        plain, _ = timed(lambda: sqlite_snapshot(db, Path(tmp) / "plain.sqlite3"))
        sk, _ = timed(lambda: asyncio.run(create_backup(settings, Path(tmp) / "sk.mbfbak", None, None)))
        pp, res_pp = timed(
            lambda: asyncio.run(create_backup(settings, Path(tmp) / "pp.mbfbak", b"bench passphrase!", None))
        )
        print(
            f"backup: plain online copy {plain:.2f} s | archive, secret-key mode {sk:.2f} s ({sk / plain:.1f}x)"
            f" | archive, passphrase mode {pp:.2f} s ({pp / plain:.1f}x, scrypt included)"
        )
        print(
            f"archive size {res_pp.path.stat().st_size / 1e6:.1f} MB for a {size_mb:.1f} MB database"
            f" = {size_mb / pp:.0f} MB/s end to end"
        )
        target = Settings(_env_file=None, data_dir=Path(tmp) / "restored", price_poll_enabled=False)  # type: ignore[call-arg]
        rs, _ = timed(lambda: asyncio.run(restore_backup(target, res_pp.path, b"bench passphrase!", False)))
        print(f"restore (passphrase archive, checks included) into an empty data dir: {rs:.2f} s")


if __name__ == "__main__":
    main()
