"""`mbf devlnd`: run a simulated LND node over TLS gRPC (development tool)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from typing import Annotated

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
        from app.dev.devlnd import DevLnd

        async def run() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            async with DevLnd.start(seed=seed, host=host, port=port, network=network, alias=alias) as node:
                node.set_latency(latency_ms / 1000)
                node.autopilot(block_interval_s=block_interval, forward_interval_s=forward_interval)
                sys.stdout.write(json.dumps(node.info()) + "\n")
                sys.stdout.flush()
                await stop.wait()

        try:
            asyncio.run(run())
        except OSError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
