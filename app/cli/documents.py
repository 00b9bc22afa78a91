"""`mbf documents add/list`: the allow-list of GraphQL documents (``MBF_PERSISTED_QUERIES=only``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

documents_app = typer.Typer(
    help="Registered GraphQL documents (persisted queries allow-list, docs/performance.md).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(documents_app, name="documents")


@documents_app.command("add")
def add(
    files: Annotated[list[Path], typer.Argument(help="Files of one GraphQL document each (.graphql).")],
) -> None:
    """Add documents to the allow-list file; prints each one's SHA-256 (the persisted query id).

    The text is registered byte for byte: the client must send exactly this text (or its hash)."""
    from app.cli.main import settings_or_exit
    from app.persisted_queries import ManifestError, add_to_manifest

    settings = settings_or_exit()
    documents = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            typer.echo(f"{path}: cannot read: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
        if not text.strip():
            typer.echo(f"{path}: empty document", err=True)
            raise typer.Exit(2)
        documents.append((path.stem, text))
    target = settings.effective_persisted_queries_file
    try:
        hashes = add_to_manifest(target, documents)
    except ManifestError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for (name, _), digest in zip(documents, hashes, strict=True):
        typer.echo(f"{digest}  {name}")
    typer.echo(f"{target}: restart the server to load it", err=True)


@documents_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False) -> None:
    """The allow-listed documents: hash and first line."""
    from app.cli.main import settings_or_exit
    from app.persisted_queries import ManifestError, read_manifest

    settings = settings_or_exit()
    try:
        known = read_manifest(settings.effective_persisted_queries_file)
    except ManifestError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for digest, body in known.items():
        if as_json:
            typer.echo(json.dumps({"id": digest, "body": body}))
        else:
            typer.echo(f"{digest}  {body.strip().splitlines()[0][:80]}")
