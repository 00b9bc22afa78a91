"""`mbf secrets rotate`: re-encrypt every stored secret under a new key (app/security/rotation.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

secrets_app = typer.Typer(
    help="The secret key that encrypts descriptors, macaroons and TOTP seeds.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")


@secrets_app.command("rotate")
def rotate(
    new_key_file: Annotated[
        Path | None,
        typer.Option(help="Read the new key (64 hex characters, or a passphrase) from FILE; default: generate one."),
    ] = None,
) -> None:
    """Re-encrypt every encrypted row under a new key; re-run it if it was interrupted."""
    from app.cli.main import _run_store, settings_or_exit
    from app.config import ConfigError
    from app.security.rotation import rotate_key

    settings = settings_or_exit()
    material = None
    if new_key_file is not None:
        try:
            material = new_key_file.read_text().strip()
        except OSError as exc:
            typer.echo(f"--new-key-file: cannot read {new_key_file}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
        if not material:
            typer.echo(f"--new-key-file: {new_key_file} is empty", err=True)
            raise typer.Exit(2)
    try:
        result = _run_store(lambda store: rotate_key(settings, store, material))
    except (ConfigError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for note in result.notes:
        typer.echo(note, err=True)
    typer.echo(
        json.dumps(
            {
                "keyId": result.key_id,
                "oldKeyId": result.old_key_id,
                "keyFile": str(result.key_file),
                "retiredFile": str(result.retired_file),
                "resumed": result.resumed,
                "reencrypted": result.reencrypted,
            }
        )
    )
