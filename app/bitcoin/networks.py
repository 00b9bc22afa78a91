"""Bitcoin networks: our :class:`Network` enum and its embit parameters.

embit keys its parameter tables ``"main"``, ``"test"``, ``"signet"`` and ``"regtest"``;
testnet, signet and regtest share the ``tpub``/``tprv`` family of extended-key versions and
differ only in address prefixes (``tb`` for testnet and signet, ``bcrt`` for regtest).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from embit.networks import NETWORKS


class Network(StrEnum):
    """The networks a wallet can live on (GraphQL enum ``Network``)."""

    MAINNET = "MAINNET"
    TESTNET = "TESTNET"
    SIGNET = "SIGNET"
    REGTEST = "REGTEST"

    @property
    def is_mainnet(self) -> bool:
        return self is Network.MAINNET

    @property
    def coin_type(self) -> int:
        """BIP44 coin type: 0 on mainnet, 1 on every test network."""
        return 0 if self is Network.MAINNET else 1

    @property
    def params(self) -> dict[str, Any]:
        """embit's parameter table (version bytes, address prefixes) for this network."""
        return NETWORKS[_EMBIT_NAME[self]]

    @property
    def embit_name(self) -> str:
        return _EMBIT_NAME[self]

    @classmethod
    def parse(cls, value: str) -> Network:
        """Accept ``MAINNET``/``mainnet``/``main``/``bitcoin``, ``testnet``/``test``... ."""
        key = value.strip().lower()
        try:
            return _ALIASES[key]
        except KeyError:
            raise ValueError(f"unknown network {value!r}") from None


_EMBIT_NAME = {
    Network.MAINNET: "main",
    Network.TESTNET: "test",
    Network.SIGNET: "signet",
    Network.REGTEST: "regtest",
}

_ALIASES = {
    "mainnet": Network.MAINNET,
    "main": Network.MAINNET,
    "bitcoin": Network.MAINNET,
    "testnet": Network.TESTNET,
    "test": Network.TESTNET,
    "testnet3": Network.TESTNET,
    "signet": Network.SIGNET,
    "regtest": Network.REGTEST,
}
