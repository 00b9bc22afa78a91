"""``mbf demo``: a live demo in one command (dev chain + dev LND + server + demo account)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def _print_ready(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        sys.stdout.write(
            "\nMyBitcoinFuture demo is running.\n\n"
            f"  GraphiQL   {summary['graphiql']}\n"
            f"  sign in    email {summary['email']}   password {summary['password']}\n"
            f"  wallets    {', '.join(summary['wallets'])}\n"
            f"  portfolio  {summary['portfolioId']}   Lightning node {summary['lightningNodeId']}\n\n"
            'In GraphiQL: mutation { login(input: {email: "...", password: "..."}) { token } }, then send\n'
            "the header  Authorization: Bearer <token>  and try\n"
            "  { wallets { edges { node { name balance { total } } } } }\n"
            f"A payment, a block and a settled invoice arrive every {summary['blockIntervalS']:g} s. Ctrl-C stops.\n"
        )
    sys.stdout.flush()


def demo(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Server port (0 = a free one).")] = 8000,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    block_interval: Annotated[float, typer.Option(min=0.2, help="Seconds between new blocks and payments.")] = 30.0,
    data_dir: Annotated[Path, typer.Option(help="The demo's own directory (replaced at each run).")] = Path(
        "./demo-data"
    ),
    scenario: Annotated[str, typer.Option(help="Dev chain scenario (see mbf devchain --help).")] = "small",
    email: Annotated[str, typer.Option(help="The demo account's email.")] = "demo@example.com",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON line.")] = False,
) -> None:
    """Start the dev chain, a dev LND node and the server in this process, with a demo account
    holding the scenario's wallets, a portfolio and the node; new activity every BLOCK_INTERVAL."""
    from app.cli.main import settings_or_exit
    from app.config import ConfigError
    from app.dev.demo import DemoError, DemoOptions, run

    settings_or_exit()  # logging to stderr, unknown MBF_ variables warned about
    opts = DemoOptions(
        host=host, port=port, data_dir=data_dir, scenario=scenario, block_interval_s=block_interval, email=email
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await run(opts, lambda summary: _print_ready(summary, as_json), stop)

    try:
        asyncio.run(main())
    except (DemoError, ConfigError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
