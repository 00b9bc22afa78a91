"""feeEstimatesUpdated over a real WebSocket: a change of the node's estimates reaches subscribers
of that network; estimates stay served (stale, with their age) when the server stops answering."""

from __future__ import annotations

from app.dev.devchain.runner import DevChain
from tests.subscriptions.wsclient import WS
from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import registered

SUB = "subscription { feeEstimatesUpdated(network: REGTEST) { network fastest hour economy stale targets { blocks } } }"
FEES = "query { feeEstimates(network: REGTEST) { fastest hour minimum stale ageSeconds } }"


async def test_fee_change_reaches_subscribers(
    devchain: DevChain, server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    assert (await gql(FEES))["data"]["feeEstimates"]["fastest"] == "26.0"
    ws = await WS.open(server.ws_url)
    assert (await ws.init(user_token))["type"] == "connection_ack"
    async with registered(server, 1):
        await ws.subscribe("fees", SUB)
    await devchain.set_fees({1: 55.5, 6: 20.0, 144: 2.0})
    await server.container.fees.estimates("regtest", refresh=True)
    msg = await ws.recv()
    event = msg["payload"]["data"]["feeEstimatesUpdated"]
    assert event["network"] == "regtest" and event["stale"] is False and event["targets"]
    assert (event["fastest"], event["hour"], event["economy"]) == (
        "55.5",
        "20.0",
        "2.0",
    )
    # The node has no estimates any more: the last ones are served with their age, not an error.
    await devchain.set_fees({})
    rec = await server.container.fees.estimates("regtest", refresh=True)
    assert str(rec.fastest) == "55.5" and rec.stale
    fees = (await gql(FEES))["data"]["feeEstimates"]
    assert fees["fastest"] == "55.5" and fees["stale"] is True and fees["ageSeconds"] >= 0
    await ws.close()
