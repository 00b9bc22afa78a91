"""Spending tests run the server against a fresh dev chain each (they broadcast and mine)."""

from __future__ import annotations

from typing import Any

import pytest

from app.dev.devchain.runner import DevChain
from tests.devchain.conftest import devchain  # noqa: F401  (re-exported fixture)


@pytest.fixture
def settings_overrides(devchain: DevChain) -> dict[str, Any]:  # noqa: F811
    return {"regtest_esplora_url": devchain.esplora_url, "sync_interval_s": 3600, "spend_output_order": "bip69"}
