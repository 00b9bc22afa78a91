"""`mbf backup` / `mbf restore`: what goes into an archive, retention, and the checks of a restore.

An archive is a tar stream, sealed by :mod:`app.backup.archive`, of:

- ``manifest.json``: format, engine, creation time, migration revision, row count per table;
- ``database.sqlite3`` (SQLite online backup) or ``database.pgdump`` (``pg_dump -Fc``);
- ``keys.json`` (passphrase mode only): the current and retired secret keys, so the archive and
  its passphrase alone bring every encrypted descriptor, macaroon and TOTP seed back.

A restore opens and checks everything before it replaces anything: authentication of every
chunk, ``PRAGMA integrity_check``, row counts against the manifest, a migration revision this
version knows, and the key check (the canary must decrypt with the keys that will be in effect).
A database that already holds data is replaced only with ``force``.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory

from app.backup import snapshot
from app.backup.archive import (
    ArchiveError,
    OpeningReader,
    SealingWriter,
    key_from_passphrase,
    key_from_secret,
    passphrase_header,
    read_header,
    secret_key_header,
)
from app.config import ConfigError, Settings
from app.security.crypto import (
    Keyring,
    derive_key,
    key_file_path,
    key_id,
    read_key_lines,
    retired_file_path,
    write_secret_file,
)
from app.security.files import sqlite_path
from app.security.keystore import KeyMismatch, key_matches, mismatch_message, open_keyring
from app.store.db import Store
from app.store.migrate import alembic_config

FORMAT = "mbf-backup/1"
PREFIX, SUFFIX = "mbf-backup-", ".mbfbak"
MEMBERS = {"manifest.json", "database.sqlite3", "database.pgdump", "keys.json"}


class BackupError(Exception):
    """A refusal or failure with a message for the operator (the CLI prints it, exit code 2)."""


@dataclass
class BackupResult:
    path: Path
    engine: str
    revision: str | None
    counts: dict[str, int]
    includes_keys: bool
    deleted: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RestoreResult:
    engine: str
    revision: str | None
    counts: dict[str, int]
    integrity: str
    notes: list[str] = field(default_factory=list)


def default_backup_dir(settings: Settings) -> Path:
    return settings.data_dir / "backups"


def _engine(settings: Settings) -> str:
    return "sqlite" if settings.effective_database_url.startswith("sqlite") else "postgresql"


# ------------------------------------------------------------------------------------------ backup


async def create_backup(
    settings: Settings, output: Path | None, passphrase: bytes | None, keep: int | None
) -> BackupResult:
    keyring = Keyring.from_settings(settings, create=False)
    store = Store(settings.effective_database_url)
    try:
        if not await key_matches(store, keyring):
            raise BackupError(mismatch_message(keyring))
    finally:
        await store.dispose()
    now = datetime.now(UTC)
    if output is None:
        output = default_backup_dir(settings) / f"{PREFIX}{now:%Y%m%dT%H%M%S%fZ}{SUFFIX}"
    output.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = _engine(settings)
    if passphrase is not None:
        header = passphrase_header()
        key = key_from_passphrase(header, passphrase)
    else:
        header, key = secret_key_header(keyring.current_key_id), key_from_secret(keyring.current_key)

    partial = output.with_name(f".{output.name}.partial")
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".mbf-backup-") as tmp:
        if engine == "sqlite":
            db = sqlite_path(settings.effective_database_url)
            assert db is not None
            dump = Path(tmp) / "database.sqlite3"
            facts = snapshot.sqlite_snapshot(db, dump)
        else:
            dump = Path(tmp) / "database.pgdump"
            facts = await snapshot.pg_snapshot(settings.effective_database_url, dump)
        manifest = {
            "format": FORMAT,
            "engine": engine,
            "createdAt": now.isoformat(),
            "revision": facts.revision,
            "counts": facts.counts,
            "keyId": keyring.current_key_id,
            "includesKeys": passphrase is not None,
        }
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                writer = SealingWriter(fh, key, header)
                with tarfile.open(fileobj=writer, mode="w|") as tar:  # type: ignore[call-overload]
                    _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
                    tar.add(dump, arcname=dump.name)
                    if passphrase is not None:
                        keys = {
                            "current": keyring.current_key.hex(),
                            "retired": [k.hex() for k in keyring.retired_keys],
                        }
                        _add_bytes(tar, "keys.json", json.dumps(keys).encode())
                writer.close()
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)

    result = BackupResult(output, engine, facts.revision, facts.counts, passphrase is not None)
    if passphrase is None:
        result.notes.append(
            f"encrypted with the secret key from {keyring.source} (key id {keyring.current_key_id}), which is "
            "NOT in the archive: keep a copy of that key somewhere else, or use --passphrase-file to make a "
            "backup that carries its keys"
        )
    if keep is not None:
        result.deleted = apply_retention(output.parent, keep)
    return result


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now(UTC).timestamp())
    tar.addfile(info, BytesIO(data))


def apply_retention(folder: Path, keep: int) -> list[Path]:
    """Delete the oldest ``mbf-backup-*.mbfbak`` files of ``folder`` beyond the newest ``keep``."""
    if keep < 1:
        raise BackupError("--keep must be at least 1")
    archives = sorted(p for p in folder.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())  # names sort by time
    doomed = archives[: max(0, len(archives) - keep)]
    for path in doomed:
        path.unlink()
    return doomed


# ----------------------------------------------------------------------------------------- restore


async def restore_backup(settings: Settings, archive: Path, passphrase: bytes | None, force: bool) -> RestoreResult:
    engine = _engine(settings)
    try:
        fh = archive.open("rb")
    except OSError as exc:
        raise BackupError(f"cannot read {archive}: {exc.strerror}") from None
    with fh, tempfile.TemporaryDirectory(dir=_scratch_dir(settings), prefix=".mbf-restore-") as tmp:
        header, raw = read_header(fh)
        key = _archive_key(settings, header, passphrase)
        reader = OpeningReader(fh, key, raw, header)
        members = _extract(reader, Path(tmp))
        manifest = json.loads(members["manifest.json"].read_text())
        if manifest.get("format") != FORMAT:
            raise BackupError(f"unknown backup format {manifest.get('format')!r}")
        if manifest["engine"] != engine:
            raise BackupError(
                f"this is a {manifest['engine']} backup and the configured database is {engine}: "
                "restore it into the same engine (MBF_DATABASE_URL)"
            )
        _check_revision(manifest.get("revision"))
        notes: list[str] = []

        if engine == "sqlite":
            dump = members.get("database.sqlite3")
            if dump is None:
                raise BackupError("the archive holds no database")
            integrity = snapshot.sqlite_integrity(dump)
            if integrity != "ok":
                raise BackupError(f"the database in the archive fails PRAGMA integrity_check: {integrity[:300]}")
            facts = snapshot.sqlite_facts(dump)
            if facts.counts != manifest["counts"]:
                raise BackupError("the database in the archive does not match its manifest's row counts")
            target = sqlite_path(settings.effective_database_url)
            assert target is not None
            if snapshot.sqlite_has_data(target) and not force:
                raise BackupError(f"{target} already holds data: stop the server and add --force to replace it")
        else:
            dump = members.get("database.pgdump")
            if dump is None:
                raise BackupError("the archive holds no database")
            integrity = "ok"  # pg_restore --exit-on-error in one transaction, then counts and revision compared
            if await snapshot.pg_has_data(settings.effective_database_url) and not force:
                raise BackupError("the target database already holds data: stop the server and add --force")

        key_writes = _plan_keys(settings, members.get("keys.json"), force, notes)

        if engine == "sqlite":
            snapshot.sqlite_restore(dump, target)  # type: ignore[arg-type]
            target.chmod(0o600)  # type: ignore[union-attr]
            integrity = snapshot.sqlite_integrity(target)  # type: ignore[arg-type]
            restored = snapshot.sqlite_facts(target)  # type: ignore[arg-type]
        else:
            await snapshot.pg_restore(dump, settings.effective_database_url)
            restored = await snapshot.pg_facts(settings.effective_database_url)
        if integrity != "ok":
            raise BackupError(f"the restored database fails PRAGMA integrity_check: {integrity[:300]}")
        if restored.counts != manifest["counts"] or restored.revision != manifest.get("revision"):
            raise BackupError("the restored database does not match the archive's manifest (row counts, revision)")
        for path, content in key_writes:
            write_secret_file(path, content)

    keyring = Keyring.from_settings(settings, create=False)
    store = Store(settings.effective_database_url)
    try:
        await open_keyring(store, keyring)
    except KeyMismatch as exc:
        raise BackupError(f"restored, but {exc}") from None
    finally:
        await store.dispose()
    return RestoreResult(engine, restored.revision, restored.counts, integrity, notes)


def _scratch_dir(settings: Settings) -> Path:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return settings.data_dir


def _archive_key(settings: Settings, header: dict[str, Any], passphrase: bytes | None) -> bytes:
    if header.get("kdf") == "scrypt":
        if passphrase is None:
            raise BackupError("this backup is protected by a passphrase: give it with --passphrase-file")
        return key_from_passphrase(header, passphrase)
    if header.get("kdf") == "secret-key":
        try:
            keyring = Keyring.from_settings(settings, create=False)
        except ConfigError as exc:
            raise BackupError(f"this backup is encrypted with the secret key {header.get('keyId')}: {exc}") from None
        for candidate in [keyring.current_key, *keyring.retired_keys]:
            if key_id(candidate) == header.get("keyId"):
                return key_from_secret(candidate)
        raise BackupError(
            f"this backup is encrypted with the secret key {header.get('keyId')}, which is not configured "
            "(MBF_SECRET_KEY, MBF_SECRET_KEY_FILE, <data dir>/secret.key or MBF_OLD_SECRET_KEYS)"
        )
    raise ArchiveError("unknown key derivation in the archive header")


def _extract(reader: OpeningReader, into: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                if member.name not in MEMBERS or not member.isfile():
                    raise BackupError(f"unexpected entry {member.name[:80]!r} in the archive")
                src = tar.extractfile(member)
                assert src is not None
                dest = into / member.name
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    while chunk := src.read(1 << 20):
                        fh.write(chunk)
                out[member.name] = dest
    except tarfile.TarError as exc:
        raise BackupError(f"the archive's content is damaged: {exc}") from None
    if "manifest.json" not in out:
        raise BackupError("the archive has no manifest")
    return out


def _check_revision(revision: str | None) -> None:
    if revision is None:
        raise BackupError("the database in the archive has no migration revision")
    if ScriptDirectory.from_config(alembic_config()).get_revision(revision) is None:
        raise BackupError(f"the backup is at migration {revision}, unknown to this version: upgrade mbf first")


def _plan_keys(settings: Settings, keys_file: Path | None, force: bool, notes: list[str]) -> list[tuple[Path, str]]:
    """Which key files to write so the restored data can be read (passphrase archives only)."""
    if keys_file is None:
        return []
    keys = json.loads(keys_file.read_text())
    current, retired = bytes.fromhex(keys["current"]), [bytes.fromhex(k) for k in keys.get("retired", [])]
    try:
        configured: Keyring | None = Keyring.from_settings(settings, create=False)
    except ConfigError:
        configured = None
    path = key_file_path(settings)
    writes: list[tuple[Path, str]] = []
    if configured is not None and configured.current_key_id == key_id(current):
        pass
    elif configured is None:
        writes.append((path, current.hex() + "\n"))
        notes.append(f"the backup's secret key was written to {path}")
    elif settings.secret_key is not None:
        raise BackupError(
            "the backup's secret key differs from MBF_SECRET_KEY: unset MBF_SECRET_KEY and restore again "
            f"(the key will be written to {path})"
        )
    elif not force:
        raise BackupError(f"the backup's secret key differs from {path}: add --force to replace that key file")
    else:
        keep = path.with_name(path.name + ".before-restore")
        writes.append((keep, path.read_text()))
        writes.append((path, current.hex() + "\n"))
        notes.append(f"the key file {path} was replaced by the backup's key (the previous one is in {keep})")
    have = {key_id(derive_key(line)) for line in read_key_lines(retired_file_path(settings))}
    extra = [k.hex() for k in retired if key_id(k) not in have]
    if extra:
        lines = read_key_lines(retired_file_path(settings)) + extra
        writes.append((retired_file_path(settings), "".join(f"{line}\n" for line in lines)))
    return writes
