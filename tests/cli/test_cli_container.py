"""The CLI's container (``background=False``): the same services as the server's, none of its
background work, so a command run next to a live server never takes over or fails the server's work."""

from __future__ import annotations

from app.bitcoin.networks import Network
from app.config import Settings
from app.container import Container
from app.services.wallets import ImportWalletInput
from tests.wallets.test_import_api import ZPUB


async def test_a_cli_container_starts_no_background_work(settings: Settings) -> None:
    async with Container(settings, background=False) as cli:
        assert not cli.supervisor.running("sync:scheduler")
        assert (cli.prices._task, cli.fees._task) == (None, None)  # no pollers
        user = await cli.accounts.create_user("dave@example.com", "correct horse battery staple")
        wallet = await cli.wallets.import_wallet(user.id, ImportWalletInput("W", ZPUB, Network.MAINNET))
        # An import made here is synced by a server (or `mbf wallet sync`), not by this command.
        assert len(cli.supervisor) == 0
        assert (await cli.sync.state(user.id, wallet.id)).status == "NEVER"
        assert (await cli.user_admin.list_users())[0].email == "dave@example.com"


async def test_the_server_container_runs_its_background_work(settings: Settings) -> None:
    async with Container(settings) as server:
        assert server.supervisor.running("sync:scheduler")
        assert server.fees._task is not None
