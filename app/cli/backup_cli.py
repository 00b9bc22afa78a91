"""`mbf backup` and `mbf restore` (app/backup/service.py): one encrypted archive per backup."""

from __future__ import annotations

import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import typer

MIN_PASSPHRASE = 12



class _Outcome(Protocol):
    @property
    def notes(self) -> Any: ...


R = TypeVar("R", bound=_Outcome)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def _passphrase(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        text = path.read_text().rstrip("\r\n")
    except OSError as exc:
        typer.echo(f"--passphrase-file: cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    if len(text) < MIN_PASSPHRASE:
        typer.echo(f"--passphrase-file: the passphrase must have at least {MIN_PASSPHRASE} characters", err=True)
        raise typer.Exit(2)
    return text.encode()


def _run(work: Coroutine[Any, Any, R]) -> R:
    """Run a backup or restore: a refusal is one line on stderr and exit 2; the result's notes go to stderr."""
    import asyncio

    from app.backup.archive import ArchiveError
    from app.backup.service import BackupError
    from app.backup.snapshot import SnapshotError
    from app.config import ConfigError

    try:
        result = asyncio.run(work)
    except (BackupError, SnapshotError, ArchiveError, ConfigError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    return result


def backup(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Archive to write (default <data dir>/backups/mbf-backup-<time>.mbfbak)."),
    ] = None,
    keep: Annotated[
        int | None, typer.Option(min=1, help="Then keep only the newest N mbf-backup-*.mbfbak files of that folder.")
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            help="Encrypt with this passphrase and include the secret keys (else: the secret key, not included)."
        ),
    ] = None,
) -> None:
    """Write a consistent, encrypted backup of the database (safe while the server runs)."""
    from app.backup.service import create_backup
    from app.cli.main import settings_or_exit

    settings = settings_or_exit()
    secret = _passphrase(passphrase_file)
    result = _run(create_backup(settings, output, secret, keep))
    typer.echo(
        json.dumps(
            {
                "path": str(result.path),
                "engine": result.engine,
                "revision": result.revision,
                "counts": result.counts,
                "includesKeys": result.includes_keys,
                "deleted": [str(p) for p in result.deleted],
            }
        )
    )


def restore(
    archive: Annotated[Path, typer.Argument(help="The .mbfbak file to restore.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that already holds data.")] = False,
    passphrase_file: Annotated[
        Path | None, typer.Option(help="The backup's passphrase (for archives made with --passphrase-file).")
    ] = None,
) -> None:
    """Check an archive (authentication, integrity, row counts, migration) and restore it."""
    from app.backup.service import restore_backup
    from app.cli.main import settings_or_exit

    settings = settings_or_exit()
    secret = _passphrase(passphrase_file) if passphrase_file is not None else None
    result = _run(restore_backup(settings, archive, secret, force))
    typer.echo(
        json.dumps(
            {
                "engine": result.engine,
                "revision": result.revision,
                "counts": result.counts,
                "integrity": result.integrity,
            }
        )
    )
