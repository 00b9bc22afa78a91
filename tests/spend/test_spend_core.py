"""Spending through Bitcoin Core (MBF_CHAIN_BACKEND=core): fee estimates from estimatesmartfee,
the PSBT's parents from Core's wallet, broadcast with testmempoolaccept then sendrawtransaction,
and the wallet resynced from Core's wallet after the block."""

from __future__ import annotations

from typing import Any

import pytest

from app.dev.devchain.runner import DevChain
from tests.spend.test_spend_e2e import spend_and_confirm
from tests.support.server import GraphQLClient


@pytest.fixture
def settings_overrides(devchain: DevChain) -> dict[str, Any]:
    return {
        "chain_backend": "core",
        "core_rpc_url": devchain.core_rpc_url,
        "core_rpc_cookie_file": str(devchain.core_cookie_file),
        "core_zmq_hashblock": devchain.core_zmq_hashblock,
        "core_zmq_rawtx": devchain.core_zmq_rawtx,
        "sync_interval_s": 3600,
        "spend_output_order": "bip69",
    }


@pytest.mark.parametrize("name", ["alice", "dave"])
async def test_single_sig_spend_over_core(name: str, devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    """P2WPKH and P2TR: built, signed elsewhere, broadcast through Core, mined, resynced."""
    await spend_and_confirm(gql, devchain, name)


async def test_two_of_three_multisig_over_core(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    await spend_and_confirm(gql, devchain, "erin", sign_with=[0, 1, 2])
