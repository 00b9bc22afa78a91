"""Swap a node's stored macaroon for a baked one with only the permissions the user ticked.

On connect with an admin macaroon (``macaroon:generate`` among its permissions) the API offers
``bakeMacaroon``: the node bakes a macaroon with exactly the ticked capabilities' permissions,
this server checks it (it decodes to those permissions and the node accepts it for GetInfo),
stores it encrypted in place of the admin macaroon (which is gone from then on), and reopens
the node's client and streams with it. Any failure keeps the old macaroon.
"""

from __future__ import annotations

import structlog
from sqlmodel import select

from app.errors import BadInput, Forbidden, NotFound, UpstreamUnavailable
from app.lightning import baking
from app.lightning.permissions import capabilities_from
from app.lightning.validation import validate_macaroon
from app.lightning.views import NodeView
from app.security.crypto import Keyring
from app.services.lightning import LightningService, node_view
from app.store.db import Store
from app.store.models.lightning import LightningNode

log = structlog.get_logger(__name__)


class LightningMacaroons:
    def __init__(self, lightning: LightningService, store: Store, keyring: Keyring) -> None:
        self.lightning = lightning
        self.store = store
        self.keyring = keyring

    async def bake(self, user_id: str, node_id: str, capabilities: list[str]) -> NodeView:
        node, client = await self.lightning.client(user_id, node_id)
        wanted = baking.permissions_for(capabilities)
        if "macaroon:generate" not in self.lightning.capabilities(node).permissions:
            raise Forbidden(
                f"The macaroon of node '{node.name}' cannot bake macaroons: it lacks macaroon:generate.",
                hint="Connect with admin.macaroon once to bake a narrower one.",
            )
        mac_hex = await baking.bake(client, wanted)
        try:
            baked = validate_macaroon(mac_hex)
            got = baked.permissions
        except Exception:
            raise UpstreamUnavailable("The node returned a macaroon that cannot be read; nothing changed.") from None
        if got != wanted:
            raise UpstreamUnavailable(
                f"The node baked {sorted(got)} instead of {sorted(wanted)}; nothing changed."
            )
        row = await self.lightning.stored_node(user_id, node_id)
        cert = self.keyring.decrypt(row.tls_cert_enc, aad=row.user_id)
        probe = self.lightning.new_client(row.host, row.port, cert, baked.hex())
        try:
            await probe.get_info()  # the node accepts it before the admin macaroon is dropped
        except BadInput as exc:
            msg = f"The node refused the macaroon it baked ({exc.message}); nothing changed."
            raise UpstreamUnavailable(msg) from None
        finally:
            await probe.close()
        caps = capabilities_from(got)
        async with self.store.write() as s:
            fresh = (
                await s.exec(select(LightningNode).where(LightningNode.id == row.id, LightningNode.user_id == user_id))
            ).first()
            if fresh is None:
                raise NotFound("No lightning node with this id.", field="nodeId")
            fresh.macaroon_enc = self.keyring.encrypt(baked.hex(), aad=user_id)
            fresh.capabilities = ",".join(caps.as_list())
            fresh.permissions = ",".join(sorted(caps.permissions))
            s.add(fresh)
        await self.lightning.refresh(fresh)
        log.info("lightning_macaroon_baked", node_id=row.id, permissions=sorted(got))
        return node_view(fresh)
