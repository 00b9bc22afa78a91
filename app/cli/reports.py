"""``mbf report generate``: a portfolio report written to a file, for scripts (cron, mail-outs).

Works on the database directly, with the same services as the server (a container without
background work; no server needed).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from app.container import Container

report_app = typer.Typer(help="Portfolio reports.", no_args_is_help=True)


@report_app.command("generate")
def report_generate(
    user: Annotated[str, typer.Option("--user", help="Email of the portfolio's owner.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the report.")],
    portfolio: Annotated[str, typer.Option(help="Portfolio id, or 'all' for every wallet.")] = "all",
    timeframe: Annotated[str, typer.Option(help="D1, W1, M1, M3, YTD, Y1, Y3 or ALL.")] = "ALL",
    fmt: Annotated[str, typer.Option("--format", help="PDF, HTML, CSV (zip) or JSON.")] = "PDF",
    tax_year: Annotated[
        int | None, typer.Option("--tax-year", help="A tax year (your fiscal-year start) instead of --timeframe.")
    ] = None,
    method: Annotated[str, typer.Option(help="Cost basis method: FIFO, LIFO, HIFO or AVERAGE.")] = "FIFO",
) -> None:
    """Generate a report and write it to OUTPUT; prints a JSON summary on stdout."""
    from app.analytics.periods import PeriodInput
    from app.cli.main import run_services
    from app.errors import DomainError

    async def main(container: Container) -> dict[str, object]:
        owner = await container.user_admin.find(user)
        if owner is None:
            raise typer.BadParameter(f"no user {user!r}", param_hint="--user")
        period = None if tax_year is None else PeriodInput(tax_year=tax_year)
        view = await container.reports.generate(owner.id, portfolio, timeframe, fmt, period, method)
        await container.reports.wait(view.id)
        view = await container.reports.get(owner.id, view.id)
        if view.status != "SUCCEEDED":
            typer.echo(f"error: the report failed: {view.error}", err=True)
            raise typer.Exit(1)
        path, media, _name = await container.reports.file(owner.id, view.id)
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, output)
        return {
            "id": view.id,
            "format": view.format,
            "mediaType": media,
            "output": str(output),
            "bytes": output.stat().st_size,
        }

    try:
        summary = run_services(main)
    except DomainError as exc:
        where = f" ({exc.field})" if exc.field else ""
        typer.echo(f"error{where}: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(summary))


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
