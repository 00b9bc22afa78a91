"""`mbf devchain`: run the simulated regtest chain, or drive a running one (--control-url)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer


def _default_data_dir() -> Path:
    return Path(os.environ.get("MBF_DATA_DIR", "./data")) / "devchain"


def _control(url: str, path: str, body: dict[str, object]) -> None:
    import httpx

    try:
        resp = httpx.post(url.rstrip("/") + path, json=body, timeout=60)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the devchain control endpoint at {url}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(resp.text)
    if resp.status_code != 200:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    @app.command("devchain")
    def devchain(
        scenario: Annotated[str, typer.Option(help="small | big | reorg | rbf | gap")] = "small",
        seed: Annotated[int, typer.Option(help="Deterministic seed.")] = 1,
        host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
        esplora_port: Annotated[int, typer.Option(help="Esplora REST port (0 = a free one).")] = 0,
        electrum_port: Annotated[int, typer.Option(help="Electrum TCP port (0 = a free one).")] = 0,
        electrum_tls_port: Annotated[int, typer.Option(help="Electrum TLS port (0 = a free one, -1 = off).")] = 0,
        control_port: Annotated[int, typer.Option(help="Control HTTP port (0 = a free one).")] = 0,
        core_port: Annotated[
            int, typer.Option(help="Bitcoin Core JSON-RPC port (0 = a free one, -1 = off); ZMQ on free ports.")
        ] = 0,
        latency_ms: Annotated[int, typer.Option(min=0, help="Delay added to every answer.")] = 0,
        block_interval: Annotated[float, typer.Option(min=0, help="Mine a block every S seconds (0 = off).")] = 0,
        data_dir: Annotated[
            Path | None, typer.Option(help="Cache/cert directory (default $MBF_DATA_DIR/devchain).")
        ] = None,
        control_url: Annotated[
            str | None, typer.Option(help="Drive a running devchain instead of starting one.")
        ] = None,
        mine: Annotated[int, typer.Option(help="With --control-url: mine N blocks.")] = 0,
        send: Annotated[str | None, typer.Option(help="With --control-url: ADDRESS:SATS payment.")] = None,
        reorg: Annotated[int, typer.Option(help="With --control-url: reorg DEPTH blocks.")] = 0,
        replace: Annotated[
            str | None, typer.Option(help="With --control-url: fee-bump TXID ('-' = the scenario's).")
        ] = None,
    ) -> None:
        """Run a simulated regtest chain over Esplora REST, Electrum and Bitcoin Core's RPC/ZMQ (development tool).

        Prints one JSON object on stdout (URLs, wallets with descriptors and expected balances),
        then serves until interrupted.
        """
        if control_url:
            if mine:
                _control(control_url, "/mine", {"n": mine})
            if send:
                address, _, sats = send.rpartition(":")
                if not address or not sats.isdigit():
                    typer.echo("error: --send takes ADDRESS:SATS", err=True)
                    raise typer.Exit(2)
                _control(control_url, "/send", {"address": address, "sats": int(sats)})
            if reorg:
                _control(control_url, "/reorg", {"depth": reorg})
            if replace:
                _control(control_url, "/replace", {} if replace == "-" else {"txid": replace})
            if block_interval:
                _control(control_url, "/timer", {"seconds": block_interval})
            return

        from app.cli._devtools import serve_until_signal
        from app.dev.devchain.runner import DevChain
        from app.dev.devchain.state import ScenarioError

        ddir = data_dir or _default_data_dir()

        async def run() -> None:
            await serve_until_signal(
                DevChain.start(
                    scenario=scenario,
                    seed=seed,
                    data_dir=ddir,
                    latency_ms=latency_ms,
                    host=host,
                    esplora_port=esplora_port,
                    electrum_port=electrum_port,
                    electrum_tls_port=None if electrum_tls_port < 0 else electrum_tls_port,
                    control_port=control_port,
                    block_interval=block_interval or None,
                    core_port=None if core_port < 0 else core_port,
                ),
                lambda chain: chain.info,
            )

        try:
            asyncio.run(run())
        except ScenarioError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
