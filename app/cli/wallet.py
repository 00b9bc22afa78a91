"""`mbf wallet import|show`: watch-only wallets from the command line.

``mbf wallet sync`` is in ``app/cli/wallet_sync.py``, attached to this command group.

The CLI works on the database directly (no server needed), through the services of a
:class:`~app.container.Container` without background work, and acts for one user, named by
``--user EMAIL``. An import made here is synced by the server (or ``mbf wallet sync``).
Output is a rich table, or JSON with ``--json`` for scripts. Key material is never printed
except the public descriptor the user asked for.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from app.container import Container

T = TypeVar("T")

wallet_app = typer.Typer(help="Watch-only wallets: import, show (and sync).", no_args_is_help=True)

NETWORKS = ("mainnet", "testnet", "signet", "regtest")
SCRIPT_TYPES = ("P2PKH", "P2SH_P2WPKH", "P2WPKH", "P2TR")


def register(app: typer.Typer) -> None:
    from app.cli import wallet_sync

    wallet_sync.register(wallet_app)
    app.add_typer(wallet_app, name="wallet")


def _run(work: Callable[[Container, str], Awaitable[T]], email: str) -> T:
    """Run ``work(container, user_id)`` on the services of a container without background work."""
    from app.cli.main import run_services, settings_or_exit
    from app.errors import DomainError

    settings = settings_or_exit(data_dir=True)

    async def main(container: Container) -> T:
        user = await container.user_admin.find(email)
        if user is None:
            typer.echo(f"error: no user {email!r} (create one with `mbf user create`)", err=True)
            raise typer.Exit(2)
        return await work(container, user.id)

    try:
        return run_services(main, settings)
    except DomainError as exc:
        where = f" ({exc.field})" if exc.field else ""
        typer.echo(f"error{where}: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        raise typer.Exit(2) from None


def _wallet_json(v: Any) -> dict[str, Any]:
    return {
        "id": v.id,
        "name": v.name,
        "network": v.network.value,
        "kind": v.kind,
        "scriptType": v.script_type.value,
        "threshold": v.threshold,
        "gapLimit": v.gap_limit,
        "descriptor": v.descriptor,
        "cosigners": [
            {"name": c.name, "xpub": c.xpub, "fingerprint": c.fingerprint, "derivationPath": c.derivation_path}
            for c in v.cosigners
        ],
        "syncStatus": v.sync_status,
        "lastSyncedAt": v.last_synced_at.isoformat() if v.last_synced_at else None,
        "createdAt": v.created_at.isoformat(),
    }


async def _sync_state(container: Container, user_id: str, wallet_id: str) -> Any | None:
    """The sync area's state of the wallet (balances, last error); None before its first sync."""
    st = await container.sync.state(user_id, wallet_id)
    return None if st.status == "NEVER" and st.last_synced_at is None else st


def _print_wallet(v: Any, addresses: list[Any], state: Any | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    info = Table(show_header=False, box=None, padding=(0, 2))
    info.add_column(no_wrap=True)
    info.add_column(overflow="fold")
    info.add_row("[bold]Wallet[/]", f"{v.name}  [dim]{v.id}[/]")
    kind = f"{v.threshold}-of-{len(v.cosigners)} multisig" if v.threshold else "single-sig"
    info.add_row("Type", f"{v.script_type.value} {kind} on {v.network.value}")
    info.add_row("Descriptor", v.descriptor)
    info.add_row("Gap limit", str(v.gap_limit))
    status = state.status if state is not None and state.status != "NEVER" else v.sync_status
    last = (state.last_synced_at if state is not None else None) or v.last_synced_at
    info.add_row("Sync", f"{status}" + (f" (last {last:%Y-%m-%d %H:%M} UTC)" if last else ""))
    if state is not None and state.status == "ERROR" and state.last_error:
        info.add_row("Last error", state.last_error)
    if state is not None:
        total = state.confirmed + state.unconfirmed
        info.add_row("Balance", f"{total:,} sat ({state.confirmed:,} confirmed, {state.unconfirmed:,} unconfirmed)")
    console.print(info)
    if v.cosigners:
        cos = Table(title="Cosigners", title_justify="left")
        for col in ("Name", "Fingerprint", "Path", "xpub"):
            cos.add_column(col)
        for c in v.cosigners:
            cos.add_row(c.name, c.fingerprint, c.derivation_path, c.xpub[:16] + "…" + c.xpub[-8:])
        console.print(cos)
    if addresses:
        table = Table(title="Addresses", title_justify="left")
        for col, justify in (
            ("Chain", "left"),
            ("#", "right"),
            ("Address", "left"),
            ("Used", "center"),
            ("Balance (sat)", "right"),
            ("Txs", "right"),
            ("Label", "left"),
        ):
            table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for a in addresses:
            table.add_row(
                a.chain.name.lower(),
                str(a.index),
                a.address,
                "yes" if a.used else ("reserved" if a.reserved else ""),
                f"{a.balance:,}",
                str(a.tx_count),
                a.label or "",
            )
        console.print(table)


UserOpt = Annotated[str, typer.Option("--user", "-u", help="Email of the user who owns the wallet.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@wallet_app.command("import")
def wallet_import(
    source: Annotated[
        str,
        typer.Argument(help="xpub/ypub/zpub (tpub/upub/vpub) or an output descriptor; '-' reads standard input."),
    ],
    user: UserOpt,
    name: Annotated[str, typer.Option(help="Wallet name.")] = "Wallet",
    network: Annotated[str, typer.Option(help="mainnet | testnet | signet | regtest")] = "mainnet",
    script_type: Annotated[
        str | None, typer.Option("--script-type", help="P2PKH | P2SH_P2WPKH | P2WPKH | P2TR (plain xpub/tpub only).")
    ] = None,
    gap_limit: Annotated[int | None, typer.Option(help="Gap limit (default MBF_DEFAULT_GAP_LIMIT, 20).")] = None,
    addresses: Annotated[int, typer.Option(help="Receive addresses to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Import a watch-only wallet (validated, stored encrypted, first addresses derived)."""
    from app.bitcoin.descriptors import Chain
    from app.bitcoin.networks import Network
    from app.bitcoin.scripts import ScriptType
    from app.services.wallets import ImportWalletInput

    if network not in NETWORKS:
        typer.echo(f"error: --network must be one of {', '.join(NETWORKS)}", err=True)
        raise typer.Exit(2)
    if script_type is not None and script_type.upper() not in SCRIPT_TYPES:
        typer.echo(f"error: --script-type must be one of {', '.join(SCRIPT_TYPES)}", err=True)
        raise typer.Exit(2)
    text = sys.stdin.read() if source == "-" else source
    inp = ImportWalletInput(
        name=name,
        source=text,
        network=Network.parse(network),
        script_type=ScriptType(script_type.upper()) if script_type else None,
        gap_limit=gap_limit,
    )

    async def work(container: Container, user_id: str) -> tuple[Any, list[Any]]:
        view = await container.wallets.import_wallet(user_id, inp)
        page = await container.wallets.addresses(user_id, view.id, chain=Chain.RECEIVE, first=addresses)
        return view, page.items

    view, items = _run(work, user)
    if as_json:
        typer.echo(json.dumps({**_wallet_json(view), "addresses": [a.address for a in items]}))
        return
    _print_wallet(view, items)
    typer.echo("\nImported. The server syncs it in the background (or run `mbf wallet sync`).")


@wallet_app.command("show")
def wallet_show(
    user: UserOpt,
    wallet_id: Annotated[str | None, typer.Argument(help="Wallet id; without it, list the user's wallets.")] = None,
    chain: Annotated[str | None, typer.Option(help="receive | change (default both).")] = None,
    addresses: Annotated[int, typer.Option(help="Addresses to show.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List the user's wallets, or show one wallet with its addresses."""
    from app.bitcoin.descriptors import Chain

    if chain is not None and chain not in ("receive", "change"):
        typer.echo("error: --chain must be receive or change", err=True)
        raise typer.Exit(2)

    if wallet_id is None:

        async def listing(container: Container, user_id: str) -> list[Any]:
            return list((await container.wallets.list_wallets(user_id, first=500)).items)

        wallets = _run(listing, user)
        if as_json:
            typer.echo(json.dumps([_wallet_json(w) for w in wallets]))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Wallets of {user}", title_justify="left")
        for col in ("Id", "Name", "Network", "Type", "Sync"):
            table.add_column(col)
        for w in wallets:
            kind = f"{w.threshold}-of-{len(w.cosigners)} " if w.threshold else ""
            table.add_row(w.id, w.name, w.network.value, kind + w.script_type.value, w.sync_status)
        Console().print(table)
        return

    selected = None if chain is None else (Chain.RECEIVE if chain == "receive" else Chain.CHANGE)

    async def one(container: Container, user_id: str) -> tuple[Any, list[Any], Any]:
        view = await container.wallets.get_wallet(user_id, wallet_id)
        page = await container.wallets.addresses(user_id, wallet_id, chain=selected, first=addresses)
        return view, page.items, await _sync_state(container, user_id, wallet_id)

    view, items, state = _run(one, user)
    if as_json:
        data = _wallet_json(view)
        if state is not None:
            data["syncStatus"] = state.status if state.status != "NEVER" else view.sync_status
            data["balance"] = {
                "confirmed": state.confirmed,
                "unconfirmed": state.unconfirmed,
                "total": state.confirmed + state.unconfirmed,
            }
            data["syncError"] = state.last_error
        data["addresses"] = [
            {
                "chain": a.chain.name,
                "index": a.index,
                "address": a.address,
                "used": a.used,
                "reserved": a.reserved,
                "balance": a.balance,
                "txCount": a.tx_count,
                "label": a.label,
            }
            for a in items
        ]
        typer.echo(json.dumps(data))
        return
    _print_wallet(view, items, state)


@wallet_app.command("delete")
def wallet_delete(
    wallet_id: Annotated[str, typer.Argument(help="Wallet id (mbf wallet show --user EMAIL lists them).")],
    user: UserOpt,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (scripts).")] = False,
) -> None:
    """Delete a wallet with its transactions, addresses and labels; prints {"deleted": id}."""
    if not yes and not typer.confirm(f"Delete wallet {wallet_id} and its history?", err=True):
        typer.echo("aborted", err=True)
        raise typer.Exit(1)

    async def work(container: Container, user_id: str) -> bool:
        return bool(await container.wallets.delete_wallet(user_id, wallet_id))

    _run(work, user)
    typer.echo(json.dumps({"deleted": wallet_id}))
