"""`mbf devlnd`: run a simulated LND node over TLS gRPC (development tool)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer


def _control(url: str, path: str, body: dict[str, object]) -> None:
    import httpx

    try:
        resp = httpx.post(url.rstrip("/") + path, json=body, timeout=30)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the devlnd control endpoint at {url}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(resp.text)
    if resp.status_code != 200:
        raise typer.Exit(1)


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
        control_port: Annotated[
            int, typer.Option(min=-1, max=65535, help="Control HTTP port (0 = a free one, -1 = off).")
        ] = 0,
        auto_settle: Annotated[
            float, typer.Option(min=0, help="Invoices settle by themselves after S seconds (0 = off).")
        ] = 0,
        version: Annotated[str, typer.Option(help="The LND version to report (0.18+ adds INITIATED).")] = "",
        control_url: Annotated[
            str | None, typer.Option(help="Drive a running devlnd (its controlUrl) instead of starting one.")
        ] = None,
        settle: Annotated[str | None, typer.Option(help="With --control-url: settle the invoice HASH.")] = None,
        pay_in: Annotated[int, typer.Option(min=0, help="With --control-url: someone pays SATS to the node.")] = 0,
        mine: Annotated[int, typer.Option(min=0, help="With --control-url: mine N blocks.")] = 0,
        fail_route: Annotated[
            bool | None, typer.Option("--fail-route/--no-fail-route", help="With --control-url: payments fail.")
        ] = None,
        invoice_from: Annotated[
            str | None, typer.Option(help="With --control-url: PEER:SATS, a payment request of that peer.")
        ] = None,
    ) -> None:
        """Run a local gRPC server speaking LND's lnrpc.Lightning over TLS with macaroon checks.

        Prints one JSON object on stdout (host, port, tlsCert PEM, macaroons readonly/admin/invoice
        as hex, controlUrl), then serves until interrupted. With --control-url it drives a running
        one instead: --settle HASH, --pay-in SATS, --mine N, --fail-route/--no-fail-route,
        --auto-settle S, --invoice-from PEER:SATS.
        """
        if control_url:
            if settle:
                _control(control_url, "/settle", {"paymentHash": settle})
            if pay_in:
                _control(control_url, "/pay-in", {"sats": pay_in})
            if mine:
                _control(control_url, "/mine", {"n": mine})
            if fail_route is not None:
                _control(control_url, "/fail-route", {"on": fail_route})
            if auto_settle:
                _control(control_url, "/auto-settle", {"seconds": int(auto_settle)})
            if invoice_from:
                peer, _, sats = invoice_from.rpartition(":")
                if not peer or not sats.isdigit():
                    typer.echo("error: --invoice-from takes PEER:SATS", err=True)
                    raise typer.Exit(2)
                _control(control_url, "/invoice", {"peer": peer, "sats": int(sats)})
            return
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
                DevLnd.start(
                    seed=seed,
                    host=host,
                    port=port,
                    network=network,
                    alias=alias,
                    version=version or None,
                    auto_settle_s=auto_settle or None,
                    control_port=None if control_port < 0 else control_port,
                ),
                ready,
            )

        try:
            asyncio.run(run())
        except OSError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
