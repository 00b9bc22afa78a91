"""The production client against devlnd over real TLS gRPC."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.dev.devlnd import DevLnd
from app.dev.devlnd.tls import make_cert
from app.errors import BadInput, Forbidden, UpstreamUnavailable
from app.lightning import macaroon as mac
from app.lightning.client import LndClient
from app.lightning.errors import MacaroonRejected, TlsRejected
from tests.lightning.conftest import client_for


async def test_reads(admin: LndClient, devlnd: DevLnd) -> None:
    info = await admin.get_info()
    assert info.pubkey == devlnd.state.pubkey
    assert info.network == "regtest" and info.synced_to_chain and info.block_height == devlnd.state.height
    chans = await admin.list_channels()
    assert len(chans) == 4
    assert {c.peer_alias for c in chans} == {"alice", "bob", "carol", "dave"}
    assert sum(c.active for c in chans) == 3
    assert sum(c.private for c in chans) == 1
    for c in chans:
        assert c.local_balance + c.remote_balance + c.commit_fee == c.capacity
        assert c.local_policy is not None and c.local_policy.time_lock_delta == 80
        assert c.lifetime_s >= c.uptime_s > 0
    inactive = next(c for c in chans if not c.active)
    assert inactive.uptime_s < inactive.lifetime_s
    assert [c.chan_id for c in await admin.list_channels(active=False)] == [inactive.chan_id]

    pending = await admin.pending_channels()
    kinds = sorted(p.kind for p in pending)
    assert kinds == ["CLOSING", "FORCE_CLOSING", "OPENING"]
    fc = next(p for p in pending if p.kind == "FORCE_CLOSING")
    assert fc.maturity_height and fc.blocks_til_maturity == fc.maturity_height - info.block_height

    closed = await admin.closed_channels()
    assert {c.close_type for c in closed} == {"COOPERATIVE_CLOSE", "REMOTE_FORCE_CLOSE"}

    bal = await admin.balance()
    assert bal.onchain_confirmed == 5_000_000
    assert bal.channel_local == sum(c.local_balance for c in chans)

    liq = await admin.liquidity(chans)
    assert sum(x.inbound for x in liq) == bal.channel_remote


async def test_forwarding_history_totals(admin: LndClient, devlnd: DevLnd) -> None:
    end = datetime.now(UTC) + timedelta(seconds=1)
    start = end - timedelta(days=60)
    before = await admin.forwarding_history(start, end)
    assert before.count == 40
    fwd = devlnd.simulate_forward(100_000)
    after = await admin.forwarding_history(start, datetime.now(UTC) + timedelta(seconds=2), page_size=7)
    assert after.count == 41  # paged through 6 pages of 7
    assert after.total_fee_msat == before.total_fee_msat + fwd.fee_msat
    assert after.total_volume_msat == before.total_volume_msat + 100_000_000
    assert sum(s.fee_msat for s in after.per_channel) == after.total_fee_msat
    recent = await admin.forwarding_history(
        datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC) + timedelta(seconds=2)
    )
    assert recent.count == 1 and recent.events[0].peer_alias_in
    with pytest.raises(BadInput):
        await admin.forwarding_history(end, start)


async def test_invoices_and_payments_paging(admin: LndClient, devlnd: DevLnd) -> None:
    page = await admin.list_invoices(limit=3)
    assert [i.add_index for i in page.invoices] == [1, 2, 3]
    nxt = await admin.list_invoices(index_offset=page.last_index_offset, limit=3)
    assert [i.add_index for i in nxt.invoices] == [4]
    added = await admin.add_invoice(amount_msat=21_000_000, memo="test", expiry_s=600)
    assert added.payment_request.startswith("lnbcrt210u1")
    inv = await admin.lookup_invoice(added.payment_hash)
    assert inv.state == "OPEN" and inv.value_msat == 21_000_000 and inv.memo == "test"
    devlnd.settle_invoice(added.payment_hash)
    assert (await admin.lookup_invoice(added.payment_hash)).state == "SETTLED"
    pays = await admin.list_payments(limit=2)
    assert pays.total == 3 and len(pays.payments) == 2
    assert {p.status for p in (await admin.list_payments()).payments} == {"SUCCEEDED", "FAILED"}
    with pytest.raises(BadInput) as err:
        await admin.lookup_invoice("00" * 32)
    assert "unable to locate invoice" in err.value.message


async def test_open_channel_pending_then_open(admin: LndClient, devlnd: DevLnd) -> None:
    carol = next(p for p in devlnd.state.directory.values() if p.alias == "erin")
    events: list[tuple[str, str]] = []
    target: list[str] = []

    opened = asyncio.Event()

    async def on_open() -> None:  # the node has the stream (its initial metadata arrived)
        opened.set()

    async def watch() -> None:
        async for ev in admin.channel_events(on_open=on_open):
            events.append((ev.type, ev.channel_point))
            if ev.type == "ACTIVE_CHANNEL" and ev.channel_point in target:
                return

    task = asyncio.create_task(watch())
    await asyncio.wait_for(opened.wait(), 10)
    assert len(devlnd.state.listeners["channel"]) == 1
    pending = await admin.open_channel(f"{carol.pubkey}@{carol.host}", 250_000, push_amount=1000, private=True)
    target.append(pending.channel_point)
    assert any(p.channel_point == pending.channel_point for p in await admin.pending_channels())
    devlnd.mine(3)
    await asyncio.wait_for(task, 5)
    mine = [t for t, cp in events if cp == pending.channel_point]
    assert mine == ["PENDING_OPEN_CHANNEL", "OPEN_CHANNEL", "ACTIVE_CHANNEL"]
    ch = next(c for c in await admin.list_channels() if c.channel_point == pending.channel_point)
    assert ch.private and ch.remote_balance == 1000 and ch.capacity == 250_000


async def test_open_channel_lnd_errors_passed_on(admin: LndClient, devlnd: DevLnd) -> None:
    alice = next(p for p in devlnd.state.directory.values() if p.alias == "alice")
    with pytest.raises(BadInput) as err:
        await admin.open_channel(alice.pubkey, 10_000)
    assert "minimum channel size is: 20000 SAT" in err.value.message and err.value.field == "capacity"
    with pytest.raises(BadInput) as err:
        await admin.open_channel(alice.pubkey, 9_000_000)
    assert "not enough witness outputs to create funding transaction" in err.value.message
    assert err.value.field == "capacity"
    grace = next(p for p in devlnd.state.directory.values() if p.alias == "grace")
    with pytest.raises(BadInput) as err:
        await admin.open_channel(grace.pubkey, 100_000, connect=False)
    assert "is not online" in err.value.message and err.value.field == "peer"
    with pytest.raises(BadInput) as err:
        await admin.open_channel(f"{grace.pubkey}@{grace.host}", 100_000)
    assert "chan size of 0.001 BTC is below min chan size of 0.005 BTC" in err.value.message
    with pytest.raises(BadInput) as err:
        await admin.open_channel("nope@host:1", 100_000)
    assert err.value.field == "peer"
    assert devlnd.state.confirmed == 5_000_000  # nothing was spent


async def test_connect_peer(admin: LndClient, devlnd: DevLnd) -> None:
    grace = next(p for p in devlnd.state.directory.values() if p.alias == "grace")
    with pytest.raises(BadInput) as err:
        await admin.connect_peer(f"{grace.pubkey}@wrong.host:9735")
    assert "connection refused" in err.value.message
    peer = await admin.connect_peer(f"{grace.pubkey}@{grace.host}")
    assert peer is not None and peer.pubkey == grace.pubkey
    assert await admin.connect_peer(f"{grace.pubkey}@{grace.host}") is not None  # already connected: fine


async def test_close_channels(admin: LndClient, devlnd: DevLnd) -> None:
    chans = await admin.list_channels()
    active = next(c for c in chans if c.active)
    inactive = next(c for c in chans if not c.active)
    with pytest.raises(BadInput) as err:
        await admin.close_channel(inactive.channel_point)
    assert "try force closing it instead" in err.value.message
    with pytest.raises(BadInput) as err:
        await admin.close_channel("ab" * 32 + ":0")
    assert "channel not found" in err.value.message and err.value.field == "channelPoint"
    with pytest.raises(BadInput) as err:
        await admin.close_channel("not-a-point")
    assert err.value.field == "channelPoint"
    coop = await admin.close_channel(active.channel_point, sat_per_vbyte=5)
    assert len(coop.closing_txid) == 64 and not coop.force
    force = await admin.close_channel(inactive.channel_point, force=True)
    assert force.force
    devlnd.mine(1)
    closed = {c.channel_point: c for c in await admin.closed_channels()}
    assert closed[active.channel_point].close_type == "COOPERATIVE_CLOSE"
    pend = {p.channel_point: p for p in await admin.pending_channels()}
    assert pend[inactive.channel_point].kind == "FORCE_CLOSING"
    assert pend[inactive.channel_point].maturity_height == devlnd.state.height + 144


async def test_update_channel_policy(admin: LndClient, devlnd: DevLnd) -> None:
    chans = await admin.list_channels()
    one = chans[0]
    assert (
        await admin.update_channel_policy(
            channel_point=one.channel_point, base_fee_msat=0, fee_rate_ppm=321, time_lock_delta=40
        )
        == []
    )
    after = {c.channel_point: c for c in await admin.list_channels()}
    assert after[one.channel_point].local_policy.fee_rate_ppm == 321  # type: ignore[union-attr]
    assert after[chans[1].channel_point].local_policy.fee_rate_ppm != 321  # type: ignore[union-attr]
    await admin.update_channel_policy(channel_point=None, base_fee_msat=500, fee_rate_ppm=10, time_lock_delta=144)
    assert {c.local_policy.base_fee_msat for c in await admin.list_channels()} == {500}  # type: ignore[union-attr]
    failed = await admin.update_channel_policy(
        channel_point="cd" * 32 + ":1", base_fee_msat=1, fee_rate_ppm=1, time_lock_delta=40
    )
    assert failed[0].reason == "UPDATE_FAILURE_NOT_FOUND"
    with pytest.raises(BadInput) as err:
        await admin.update_channel_policy(channel_point=None, base_fee_msat=1, fee_rate_ppm=1, time_lock_delta=5)
    assert "time lock delta of 5 is too small" in err.value.message


async def test_readonly_macaroon_forbidden_naming_permission(readonly: LndClient) -> None:
    assert (await readonly.get_info()).alias == "devlnd"
    assert readonly.capabilities.read_only
    with pytest.raises(Forbidden) as err:
        await readonly.add_invoice(amount_msat=1000)
    assert "invoices:write" in err.value.message
    with pytest.raises(Forbidden) as err:
        await readonly.open_channel("02" + "11" * 32, 100_000)
    assert "onchain:write" in err.value.message and "offchain:write" in err.value.message


async def test_server_side_permission_denied_is_mapped(devlnd: DevLnd) -> None:
    """A macaroon whose ops the client cannot read locally still gets a Forbidden from LND's answer."""
    async with client_for(devlnd, devlnd.bake({"info": ("read",)})) as c:
        c.permissions = None  # as if the macaroon were opaque to us: the node must refuse
        with pytest.raises(Forbidden) as err:
            await c.list_channels(with_policy=False)
        assert "ListChannels" in err.value.message
    async with client_for(devlnd, devlnd.bake({"info": ("read",)})) as c:
        with pytest.raises(Forbidden) as err:
            await c.list_channels(with_policy=False)
        assert "offchain:read" in err.value.message


async def test_tampered_macaroon_rejected(devlnd: DevLnd) -> None:
    m = mac.decode_hex(devlnd.macaroons["admin"])
    forged = mac.Macaroon(identifier=m.identifier, signature=bytes(32), location=m.location)
    async with client_for(devlnd, forged.hex()) as c:
        with pytest.raises(MacaroonRejected) as err:
            await c.get_info()
    assert "signature mismatch" in err.value.message and err.value.field == "macaroon"
    # a macaroon minted with another root key (another node's)
    other = mac.mint(bytes(32), {"info": ("read",)}, nonce=b"x" * 16).hex()
    async with client_for(devlnd, other) as c:
        with pytest.raises(MacaroonRejected):
            await c.get_info()
    # an expired first-party caveat
    expired = mac.add_first_party_caveat(m, "time-before 2000-01-01T00:00:00Z").hex()
    async with client_for(devlnd, expired) as c:
        with pytest.raises(MacaroonRejected) as err:
            await c.get_info()
    assert "expired" in err.value.message


async def test_wrong_certificate(devlnd: DevLnd) -> None:
    other_cert, _ = make_cert()
    async with LndClient(devlnd.host, devlnd.port, other_cert, devlnd.macaroons["admin"], timeout_s=5) as c:
        with pytest.raises(TlsRejected) as err:
            await c.get_info()
    assert err.value.field == "tlsCert"


async def test_unreachable_and_timeout(devlnd: DevLnd) -> None:
    async with client_for(devlnd, timeout_s=0.3) as c:
        devlnd.set_latency(2)
        with pytest.raises(UpstreamUnavailable) as err:
            await c.get_info()
        assert "did not answer GetInfo within 0.3s" in err.value.message
        devlnd.set_latency(0)
        assert (await c.get_info()).alias == "devlnd"
    await devlnd.stop()
    async with client_for(devlnd, timeout_s=2) as c:
        with pytest.raises(UpstreamUnavailable) as err:
            await c.get_info()
        assert "unreachable" in err.value.message


async def test_invoice_stream_resumes_from_index(admin: LndClient, devlnd: DevLnd) -> None:
    seen: list[tuple[str, str]] = []
    async for inv in admin.invoice_updates(add_index=3):
        seen.append((inv.memo, inv.state))
        break
    assert seen == [("rent", "OPEN")]  # add_index 4 replayed


async def test_self_signed_cert_works_from_an_address_it_does_not_list() -> None:
    """LND's cert lists its own names; reaching it via another address (NAT, Docker) still works."""
    async with DevLnd.start(seed=3, host="0.0.0.0") as node:
        async with LndClient("127.0.0.2", node.port, node.tls_cert_pem, node.macaroons["admin"], timeout_s=5) as c:
            assert (await c.get_info()).alias == "devlnd"
        other_cert, _ = make_cert()  # still: a different certificate is refused
        async with LndClient("127.0.0.2", node.port, other_cert, node.macaroons["admin"], timeout_s=5) as c:
            with pytest.raises(TlsRejected):
                await c.get_info()


def test_target_name_override_rules() -> None:
    from app.lightning.client import target_name_override

    cert, _ = make_cert(["node.example.com"])
    assert target_name_override(cert, "localhost") is None
    assert target_name_override(cert, "127.0.0.1") is None
    assert target_name_override(cert, "node.example.com") is None
    assert target_name_override(cert, "10.0.0.7") == "localhost"


async def test_peer_alias_falls_back_to_the_graph(admin: LndClient, devlnd: DevLnd) -> None:
    devlnd.alias_lookup = False
    chans = await admin.list_channels(with_policy=False)
    assert {c.peer_alias for c in chans} == {"alice", "bob", "carol", "dave"}
    assert devlnd.calls["GetNodeInfo"] == 4
    await admin.list_channels(with_policy=False)
    assert devlnd.calls["GetNodeInfo"] == 4  # cached
