"""Wallet API tests never reach public chain servers: by default every network's Esplora URL is
a closed local port, so the first sync that each import starts fails fast (status ERROR).
Modules that sync for real override ``settings_overrides`` with the dev chain's URLs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.devchain.conftest import devchain_small  # noqa: F401  (re-exported fixture)

UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"esplora_url": UNREACHABLE, "sync_interval_s": 3600, "chain_retries": 0}
