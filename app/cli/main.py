"""The ``mbf`` command line: serve, migrate, config, schema, user (+ area commands)."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from app.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from app.container import Container

T = TypeVar("T")

# Tracebacks without frame locals, said explicitly: older Typer releases render locals by default (a password
# read from stdin, a decrypted descriptor), and no secret may reach a terminal.
app = typer.Typer(
    help="MyBitcoinFuture backend.", no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False
)
migrate_app = typer.Typer(help="Database migrations (alembic).", no_args_is_help=True)
config_app = typer.Typer(help="Effective configuration.", no_args_is_help=True)
schema_app = typer.Typer(help="GraphQL schema.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
app.add_typer(config_app, name="config")
app.add_typer(schema_app, name="schema")
app.add_typer(user_app, name="user")


_warned = False


def settings_or_exit(*, data_dir: bool = False) -> Settings:
    """Settings, or exit 2 with one line per bad field; warns about unknown ``MBF_`` variables.

    Logging is configured here (always to stderr: stdout carries only the command's output).
    ``data_dir=True`` also creates the data directory (one-line error when it cannot be).
    """
    from app.config_check import ensure_data_dir, unknown_variables
    from app.logging import configure_logging

    global _warned
    if not _warned:  # once per command, however often settings are read
        _warned = True
        for warning in unknown_variables():
            typer.echo(f"warning: {warning}", err=True)
    try:
        settings = load_settings()
        if data_dir:
            ensure_data_dir(settings)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.effective_log_format)
    return settings


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"mbf {version('mybitcoinfuture')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """MyBitcoinFuture backend."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default MBF_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MBF_PORT or 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (more than 1 needs MBF_REDIS_URL).")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Run the server: creates the data directory, applies migrations, serves /graphql."""
    import uvicorn

    settings = settings_or_exit(data_dir=True)
    _check_data_and_key(settings)
    if workers > 1 and not settings.effective_redis_url:
        # Each worker would have its own event hub: live events, session revocations and cache
        # invalidations published in one worker would never reach the others (docs/performance.md).
        typer.echo(
            "error: --workers > 1 needs MBF_REDIS_URL (workers share live events, revocations and cache "
            "invalidation through Redis); set it or run one worker",
            err=True,
        )
        raise typer.Exit(2)
    from app.http.header_timeout import HeaderTimeoutProtocol
    from app.observability import serve as metrics_serve

    metrics_serve.prepare(settings, processes=2 if reload else workers)
    metrics_serve.start_metrics_port(settings)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        reload=reload,
        log_level=settings.log_level,
        timeout_graceful_shutdown=30,
        ws_max_size=settings.ws_max_message_bytes * 4,  # the handler closes 4400 above 1x
        # Small JSON frames: compression would cost ~20 KB of zlib state per socket and a
        # compression per socket per frame (defeating the shared serialisation).
        ws_per_message_deflate=False,
        # X-Forwarded-* only from the proxies the operator names (uvicorn would trust loopback by default).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        timeout_keep_alive=int(settings.keepalive_timeout_s),
        http=HeaderTimeoutProtocol,  # uvicorn has no request-header timeout of its own (slowloris)
        server_header=False,
    )


def _check_data_and_key(settings: Settings) -> None:
    """Before serving: owner-only data directory, migrations applied, the secret key matches the data."""
    from app.security.crypto import Keyring
    from app.security.files import secure_data_dir
    from app.security.keystore import open_keyring
    from app.store import migrate

    async def check(store):
        await migrate.upgrade(store)
        await open_keyring(store, Keyring.from_settings(settings))

    try:
        secure_data_dir(settings)
        _run_store(check)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def run_services(work: Callable[[Container], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``work(container)`` on the services of a started :class:`~app.container.Container`
    without background work (no scheduler, pollers or streams; migrations applied, the secret key
    checked). A configuration problem, such as a key that does not match the data, is one line
    on stderr and exit 2; domain errors are the command's to report."""
    from app.container import Container

    settings = settings or settings_or_exit(data_dir=True)

    async def main() -> T:
        async with Container(settings, background=False) as container:
            return await work(container)

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _run_store(coro_factory):
    from app.store.db import Store

    settings = settings_or_exit(data_dir=True)

    async def main():
        store = Store(settings.effective_database_url)
        try:
            return await coro_factory(store)
        finally:
            await store.dispose()

    return asyncio.run(main())


@migrate_app.command("upgrade")
def migrate_upgrade(target: Annotated[str, typer.Argument(help="Revision (default: all heads).")] = "heads") -> None:
    """Apply migrations up to TARGET."""
    from app.store import migrate

    _run_store(lambda store: migrate.upgrade(store, target))
    typer.echo(f"upgraded to {target}")


@migrate_app.command("downgrade", context_settings={"ignore_unknown_options": True})  # `-1` is a revision
def migrate_downgrade(target: Annotated[str, typer.Argument(help="Revision, e.g. -1 or base.")]) -> None:
    """Revert migrations down to TARGET."""
    from app.store import migrate

    _run_store(lambda store: migrate.downgrade(store, target))
    typer.echo(f"downgraded to {target}")


@migrate_app.command("current")
def migrate_current() -> None:
    """Show the database's revision(s) and whether it is at head."""
    from app.store import migrate

    async def show(store):
        return await migrate.current_revisions(store), migrate.head_revisions()

    current, heads = _run_store(show)
    typer.echo(json.dumps({"current": sorted(current), "heads": sorted(heads), "atHead": current == heads}))


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration as JSON, secrets redacted."""
    typer.echo(json.dumps(settings_or_exit().redacted(), indent=2, default=str))


@config_app.command("check")
def config_check() -> None:
    """Validate the configuration without changing anything; exit 2 with every problem, one line each."""
    from app.config_check import check

    errors, notes = check(settings_or_exit())
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    if errors:
        typer.echo("Invalid configuration:\n" + "\n".join(f"  {e}" for e in errors), err=True)
        raise typer.Exit(2)
    typer.echo("configuration OK")


@schema_app.command("export")
def schema_export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write the SDL (default: stdout if piped, else schema.graphql)."),
    ] = None,
) -> None:
    """Write the GraphQL SDL (the schema file clients are built against) to OUTPUT, or - for stdout.

    Piped or redirected (``mbf schema export > schema.graphql``), stdout carries only the SDL.
    """
    from app.graphql_schema import build_schema

    sdl = build_schema(Settings(introspection=True)).as_str() + "\n"
    if output is None:
        output = Path("schema.graphql") if sys.stdout.isatty() else Path("-")
    if str(output) == "-":
        sys.stdout.write(sdl)
    else:
        output.write_text(sdl)
        typer.echo(f"wrote {output}", err=True)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="Email address (the login name).")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
) -> None:
    """Create a user (prompts for the password unless --password-stdin)."""
    from app.errors import DomainError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            typer.echo("passwords differ", err=True)
            raise typer.Exit(2)
    try:
        user = run_services(lambda c: c.accounts.create_user(email, password, admin=admin))
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"id": user.id, "email": user.email, "role": user.role}))


@user_app.command("reset-2fa")
def user_reset_2fa(email: Annotated[str, typer.Argument(help="The user's email address.")]) -> None:
    """Turn two-factor off for a user who lost their device, and sign out all their sessions."""
    from app.errors import DomainError

    try:
        user = run_services(lambda c: c.accounts.reset_two_factor(email))
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"id": user.id, "email": user.email, "totpEnabled": False}))


def _register_commands() -> None:
    """The command groups of ``app/cli/<module>.py`` (each has ``register(app)``)."""
    from app.cli import backup_cli, demo, devchain, devlnd, documents, reports, secrets_cli, users, wallet

    for module in (devchain, devlnd, wallet, secrets_cli, backup_cli, users, reports, demo, documents):
        module.register(app)


def main() -> None:
    from app.security.files import set_private_umask

    set_private_umask()  # database, key, report and backup files: owner-only
    _register_commands()
    app()
