"""`mbf devlnd`: run a simulated LND node over TLS gRPC (development tool)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    @app.command("devlnd")
    def devlnd(
        host: Annotated[str, typer.Option(help="Bind address (also put in the certificate).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="gRPC port (0 = a free one).")] = 0,
        seed: Annotated[int, typer.Option(help="Deterministic seed for keys and the simulated node.")] = 1,
        network: Annotated[str, typer.Option(help="mainnet | testnet | signet | regtest")] = "regtest",
        alias: Annotated[str, typer.Option(help="The node's alias.")] = "devlnd",
        block_interval: Annotated[float, typer.Option(min=0, help="Mine a block every S seconds (0 = off).")] = 0,
        forward_interval: Annotated[
            float, typer.Option(min=0, help="Route a simulated forward every S seconds (0 = off).")
        ] = 0,
        latency_ms: Annotated[int, typer.Option(min=0, help="Delay added to every answer.")] = 0,
    ) -> None:
        """Run a local gRPC server speaking LND's lnrpc.Lightning over TLS with macaroon checks.

        Prints one JSON object on stdout (host, port, tlsCert PEM, macaroons readonly/admin/invoice
        as hex), then serves until interrupted.
        """
        if network not in ("mainnet", "testnet", "signet", "regtest"):
            typer.echo("error: --network must be mainnet, testnet, signet or regtest", err=True)
            raise typer.Exit(2)
        from app.cli._devtools import serve_until_signal
        from app.dev.devlnd import DevLnd

        def ready(node: DevLnd) -> dict[str, Any]:
            node.set_latency(latency_ms / 1000)
            node.autopilot(block_interval_s=block_interval, forward_interval_s=forward_interval)
            return node.info()

        async def run() -> None:
            await serve_until_signal(
                DevLnd.start(seed=seed, host=host, port=port, network=network, alias=alias), ready
            )

        try:
            asyncio.run(run())
        except OSError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
