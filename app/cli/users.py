"""``mbf user list|passwd|delete``: account administration for scripts (JSON on stdout, errors on stderr).

Attached to the ``user`` command group of ``app/cli/main.py``; works on the database directly.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")


def _group(app: typer.Typer, name: str) -> typer.Typer:
    for group in app.registered_groups:
        if group.name == name and group.typer_instance is not None:
            return group.typer_instance
    raise RuntimeError(f"no command group {name!r}")


def _admin(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(UserAdmin)`` on the container's services; domain errors become one stderr line, exit 2."""
    from app.cli.main import run_services
    from app.errors import DomainError

    try:
        return run_services(lambda c: work(c.user_admin))
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        raise typer.Exit(2) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("New password: ")
    if getpass.getpass("Repeat: ") != password:
        typer.echo("error: passwords differ", err=True)
        raise typer.Exit(2)
    return password


def _as_json(user: Any) -> dict[str, object]:
    """A :class:`app.services.accounts.UserView` as the ``--json`` output shows it."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "totpEnabled": user.totp_enabled,
        "createdAt": user.created_at.isoformat(),
    }


def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """List the accounts (oldest first)."""
    rows = _admin(lambda admin: admin.list_users())
    if as_json:
        typer.echo(json.dumps([_as_json(r) for r in rows]))
        return
    for r in rows:
        typer.echo(f"{r.email}\t{r.role}\t{'2fa' if r.totp_enabled else '-'}\t{r.created_at:%Y-%m-%d}\t{r.id}")


def user_passwd(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    password_stdin: Annotated[bool, typer.Option(help="Read the new password from standard input.")] = False,
) -> None:
    """Set a user's password; every session of the user is signed out."""
    password = _password(password_stdin)
    revoked = _admin(lambda admin: admin.set_password(email, password))
    typer.echo(json.dumps({"email": email.strip().lower(), "sessionsRevoked": revoked}))


def user_delete(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (scripts).")] = False,
) -> None:
    """Delete a user and everything they own (wallets, portfolios, nodes, reports). Irreversible."""
    if not yes and not typer.confirm(f"Delete {email} and all their data?", err=True):
        typer.echo("aborted", err=True)
        raise typer.Exit(1)
    user_id = _admin(lambda admin: admin.delete_user(email))
    typer.echo(json.dumps({"deleted": email.strip().lower(), "id": user_id}))


def register(app: typer.Typer) -> None:
    group = _group(app, "user")
    group.command("list")(user_list)
    group.command("passwd")(user_passwd)
    group.command("delete")(user_delete)
