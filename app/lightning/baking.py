"""Least privilege: bake (LND BakeMacaroon) a macaroon with only the permissions the user picks.

The capabilities the API shows map to LND permissions (``app.lightning.permissions``); a baked
macaroon always carries ``info:read`` (GetInfo, needed to talk to the node at all) and, with
``READ_NODE``, ``peers:read`` (the peer list) besides the capability's own permissions.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.errors import BadInput
from app.lightning.client import LndClient
from app.lightning.permissions import CAPABILITY_PERMISSIONS
from app.lightning.proto import ln

ALWAYS = frozenset({"info:read"})
EXTRA: dict[str, frozenset[str]] = {"READ_NODE": frozenset({"peers:read"})}


def permissions_for(capabilities: Iterable[str]) -> frozenset[str]:
    """The LND permissions a macaroon needs for exactly these capabilities."""
    caps = list(capabilities)
    if not caps:
        raise BadInput("Tick at least one capability to bake a macaroon.", field="capabilities")
    perms = set(ALWAYS)
    for cap in caps:
        if cap not in CAPABILITY_PERMISSIONS:
            raise BadInput(f"Unknown capability '{cap}'.", field="capabilities")
        perms |= set(CAPABILITY_PERMISSIONS[cap]) | EXTRA.get(cap, frozenset())
    return frozenset(perms)


async def bake(client: LndClient, permissions: Iterable[str]) -> str:
    """BakeMacaroon with ``entity:action`` permissions (root key 0, like ``lncli bakemacaroon``); the hex."""
    ops = []
    for p in sorted(set(permissions)):
        entity, _, action = p.partition(":")
        ops.append(ln.MacaroonPermission(entity=entity, action=action))
    r = await client.call("BakeMacaroon", ln.BakeMacaroonRequest(permissions=ops), field="capabilities")
    return str(r.macaroon)
