"""Fixtures of the sync tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.dev.devchain.runner import DevChain


@pytest.fixture
async def gapchain(tmp_path: Path) -> AsyncIterator[DevChain]:
    """The devchain `gap` scenario (docs/devchain.md), served in the test's loop."""
    async with DevChain.start(scenario="gap", seed=1, data_dir=tmp_path) as chain:
        yield chain
