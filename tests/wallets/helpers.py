"""Helpers for the wallet API tests."""

from __future__ import annotations

from typing import Any

from tests.support.server import GraphQLClient

WALLET_FIELDS = """
  id name network kind scriptType descriptor receiveDescriptor changeDescriptor threshold gapLimit
  syncStatus lastSyncedAt balance { confirmed unconfirmed total }
  cosigners { name xpub fingerprint derivationPath }
"""

IMPORT = f"mutation($i: ImportWalletInput!) {{ importWallet(input: $i) {{ {WALLET_FIELDS} }} }}"
MULTISIG = f"mutation($i: CreateMultisigWalletInput!) {{ createMultisigWallet(input: $i) {{ {WALLET_FIELDS} }} }}"
ADDRESSES = """query($id: ID!, $first: Int, $after: String, $chain: AddressChain, $used: Boolean) {
  wallet(id: $id) { addresses(first: $first, after: $after, chain: $chain, used: $used) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { address index chain used reserved balance txCount label scriptPubKey scripthash } } } } }"""


async def import_wallet(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    body = await gql(IMPORT, {"i": {"name": "Wallet", "network": "MAINNET", **fields}})
    wallet: dict[str, Any] = body["data"]["importWallet"]
    return wallet


async def addresses(gql: GraphQLClient, wallet_id: str, **args: Any) -> dict[str, Any]:
    body = await gql(ADDRESSES, {"id": wallet_id, **args})
    conn: dict[str, Any] = body["data"]["wallet"]["addresses"]
    return conn


def error(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a failed request (asserts there is exactly one)."""
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    assert body.get("data") is None or all(v is None for v in (body.get("data") or {}).values())
    err: dict[str, Any] = errors[0]
    return err
