"""LND's macaroon permissions for the RPCs we use, and the capabilities we derive from them.

The table mirrors ``MainRPCServerPermissions`` in LND's ``rpcserver.go``: each RPC needs every
listed ``entity:action``. A macaroon may instead carry the ``uri`` entity with the full method
name as action (``uri:/lnrpc.Lightning/GetInfo``), which LND accepts as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.lightning.proto import ROUTER_SERVICE, full_method

METHOD_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "GetInfo": ("info:read",),
    "GetNodeInfo": ("info:read",),
    "GetChanInfo": ("info:read",),
    "WalletBalance": ("onchain:read",),
    "ChannelBalance": ("offchain:read",),
    "GetTransactions": ("onchain:read",),
    "SubscribeTransactions": ("onchain:read",),
    "ListChannels": ("offchain:read",),
    "PendingChannels": ("offchain:read",),
    "ClosedChannels": ("offchain:read",),
    "SubscribeChannelEvents": ("offchain:read",),
    "ListPayments": ("offchain:read",),
    "FeeReport": ("offchain:read",),
    "ForwardingHistory": ("offchain:read",),
    "ListPeers": ("peers:read",),
    "ConnectPeer": ("peers:write",),
    "OpenChannelSync": ("onchain:write", "offchain:write"),
    "OpenChannel": ("onchain:write", "offchain:write"),
    "CloseChannel": ("onchain:write", "offchain:write"),
    "UpdateChannelPolicy": ("offchain:write",),
    "AddInvoice": ("invoices:write",),
    "ListInvoices": ("invoices:read",),
    "LookupInvoice": ("invoices:read",),
    "SubscribeInvoices": ("invoices:read",),
    "DecodePayReq": ("offchain:read",),
    "ExportAllChannelBackups": ("offchain:read",),
    "VerifyChanBackup": ("offchain:read",),
    "SubscribeChannelBackups": ("offchain:read",),
    "BakeMacaroon": ("macaroon:generate",),
    "DescribeGraph": ("info:read",),
    # routerrpc (router_server.go's macPermissions)
    "SendPaymentV2": ("offchain:write",),
    "TrackPaymentV2": ("offchain:read",),
}
ROUTER_METHODS = frozenset({"SendPaymentV2", "TrackPaymentV2"})


def method_path(method: str) -> str:
    """The full gRPC method name (``/routerrpc.Router/SendPaymentV2``)."""
    return full_method(method, ROUTER_SERVICE) if method in ROUTER_METHODS else full_method(method)

# What LND's own ``lncli bakemacaroon`` defaults mint (``lnd --no-macaroons`` off):
READONLY_OPS: dict[str, tuple[str, ...]] = {
    "address": ("read",),
    "info": ("read",),
    "invoices": ("read",),
    "macaroon": ("read",),
    "message": ("read",),
    "offchain": ("read",),
    "onchain": ("read",),
    "peers": ("read",),
    "signer": ("read",),
}
ADMIN_OPS: dict[str, tuple[str, ...]] = {
    "address": ("read", "write"),
    "info": ("read", "write"),
    "invoices": ("read", "write"),
    "macaroon": ("generate", "read", "write"),
    "message": ("read", "write"),
    "offchain": ("read", "write"),
    "onchain": ("read", "write"),
    "peers": ("read", "write"),
    "signer": ("generate", "read"),
}
INVOICE_OPS: dict[str, tuple[str, ...]] = {
    "address": ("read", "write"),
    "invoices": ("read", "write"),
    "onchain": ("read",),
}


def missing_for(method: str, granted: Iterable[str]) -> tuple[str, ...]:
    """Permissions ``method`` needs that ``granted`` lacks (empty: allowed)."""
    have = set(granted)
    if f"uri:{method_path(method)}" in have:
        return ()
    return tuple(p for p in METHOD_PERMISSIONS.get(method, ()) if p not in have)


# Capability name -> the permissions it needs. These are what the API reports and checks.
CAPABILITY_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "READ_NODE": ("info:read", "offchain:read", "onchain:read"),
    "READ_INVOICES": ("invoices:read",),
    "CREATE_INVOICES": ("invoices:write",),
    "PAY": ("offchain:write",),
    "CONNECT_PEERS": ("peers:write",),
    "OPEN_CHANNELS": ("onchain:write", "offchain:write"),
    "CLOSE_CHANNELS": ("onchain:write", "offchain:write"),
    "UPDATE_CHANNEL_POLICY": ("offchain:write",),
}

# The RPC behind each write capability (so a macaroon with ``uri:`` ops is judged fairly).
_CAPABILITY_METHOD: dict[str, str] = {
    "READ_NODE": "GetInfo",
    "READ_INVOICES": "ListInvoices",
    "CREATE_INVOICES": "AddInvoice",
    "PAY": "SendPaymentV2",
    "CONNECT_PEERS": "ConnectPeer",
    "OPEN_CHANNELS": "OpenChannelSync",
    "CLOSE_CHANNELS": "CloseChannel",
    "UPDATE_CHANNEL_POLICY": "UpdateChannelPolicy",
}


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a macaroon allows, derived from its permissions."""

    permissions: frozenset[str]
    granted: frozenset[str]

    @property
    def read_only(self) -> bool:
        return not any(p.endswith((":write", ":generate")) for p in self.permissions if not p.startswith("uri:")) and (
            not self.granted - {"READ_NODE", "READ_INVOICES"}
        )

    def allows(self, capability: str) -> bool:
        return capability in self.granted

    def missing(self, capability: str) -> tuple[str, ...]:
        """The permissions lacking for ``capability`` (empty if allowed)."""
        if capability in self.granted:
            return ()
        return tuple(p for p in CAPABILITY_PERMISSIONS[capability] if p not in self.permissions)

    def as_list(self) -> list[str]:
        return sorted(self.granted)


def capabilities_from(permissions: Iterable[str]) -> Capabilities:
    perms = frozenset(permissions)
    granted = set()
    for cap, needed in CAPABILITY_PERMISSIONS.items():
        uri = f"uri:{method_path(_CAPABILITY_METHOD[cap])}"
        if all(p in perms for p in needed) or uri in perms:
            granted.add(cap)
    return Capabilities(permissions=perms, granted=frozenset(granted))
