from __future__ import annotations

import httpx

from app.dev.devchain.runner import ThreadedDevChain


async def test_small_serves_esplora_and_electrum(devchain_small: ThreadedDevChain, electrum_client) -> None:
    info = devchain_small.info
    assert info["network"] == "regtest"
    async with httpx.AsyncClient(base_url=devchain_small.esplora_url) as http:
        height = int((await http.get("/blocks/tip/height")).text)
    assert height == info["tip"]["height"]
    client = await electrum_client(devchain_small)
    assert (await client.request("server.version", "test", "1.4")) == ["mbf-devchain 0.1", "1.4"]
    tip = await client.request("blockchain.headers.subscribe")
    assert tip["height"] == height
