"""`mbf wallet sync`: sync one wallet (or all of a user's) with the chain, with a progress bar.

Works on the database directly (no server needed) through a :class:`~app.container.Container`
without background work, with the chain servers of the configuration (``MBF_CHAIN_BACKEND``,
``MBF_<NETWORK>_ESPLORA_URL`` ...). The progress bar follows the sync's ``walletSyncProgress``
events on the container's hub. ``--json`` prints one JSON object per wallet for scripts.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer


def register(wallet_app: typer.Typer) -> None:
    wallet_app.command("sync")(wallet_sync)


def wallet_sync(
    user: Annotated[str, typer.Option("--user", "-u", help="Email of the user who owns the wallet.")],
    wallet_id: Annotated[str | None, typer.Argument(help="Wallet id; without it, every wallet of the user.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Rescan every address instead of asking what changed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a progress bar.")] = False,
) -> None:
    """Sync watch-only wallets with the chain now and print their balances."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from app.cli.main import run_services, settings_or_exit
    from app.container import Container
    from app.events.envelope import Event

    settings = settings_or_exit(data_dir=True)
    console = Console(stderr=as_json)
    failed = False

    async def main(container: Container) -> None:
        nonlocal failed
        row = await container.user_admin.find(user)
        if row is None:
            typer.echo(f"error: no user {user!r}", err=True)
            raise typer.Exit(2)
        wallets, sync = container.wallets, container.sync
        ids = [wallet_id] if wallet_id else [w.id for w in (await wallets.list_wallets(row.id, first=500)).items]
        for wid in ids:
            view = await wallets.get_wallet(row.id, wid)
            with Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[phase]}: {task.fields[addresses]} addresses, {task.fields[txs]} txs"),
                TimeElapsedColumn(),
                console=console,
                disable=as_json,
                transient=False,
            ) as progress:
                task = progress.add_task(view.name, total=None, phase="starting", addresses=0, txs=0)

                def on_event(ev: Event, wid: str = wid, task: Any = task, progress: Any = progress) -> None:
                    if ev.subject != wid:
                        return
                    p = ev.payload
                    phase = p.get("phase", "")
                    if phase == "rescanning":  # Bitcoin Core rescanning the wallet's blocks
                        phase = f"node rescanning {float(p.get('rescanProgress', 0)):.0%}"
                    progress.update(
                        task,
                        phase=phase,
                        addresses=p.get("addressesScanned", 0),
                        txs=p.get("txsFound", 0),
                    )

                events = container.hub.fanout.listen(row.id, on_event, types={"walletSyncProgress"})
                try:
                    job = await sync.sync_now(row.id, wid, full=full)
                finally:
                    events.close()
                progress.update(task, total=1, completed=1)
            st = await sync.state(row.id, wid)
            out = {
                "walletId": wid,
                "name": view.name,
                "job": job.status,
                "error": job.error,
                "confirmed": st.confirmed,
                "unconfirmed": st.unconfirmed,
                "total": st.confirmed + st.unconfirmed,
                "txCount": st.tx_count,
                "utxoCount": st.utxo_count,
                "tipHeight": st.tip_height,
            }
            if job.status != "SUCCEEDED":
                failed = True
            if as_json:
                typer.echo(json.dumps(out))
            elif job.status == "SUCCEEDED":
                console.print(
                    f"  balance {out['total']:,} sat (confirmed {st.confirmed:,}, unconfirmed {st.unconfirmed:,}), "
                    f"{st.tx_count} transactions, {st.utxo_count} UTXOs, tip {st.tip_height}"
                )
            else:
                console.print(f"  [red]sync failed:[/] {job.error}")

    from app.errors import DomainError

    try:
        run_services(main, settings)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if failed:
        raise typer.Exit(1)
