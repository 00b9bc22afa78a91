"""A person drives devlnd: `mbf devlnd --control-url … --settle/--pay-in/--mine/--fail-route`, auto-settle."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import bolt11 as independent

from app.dev.devlnd import DevLnd
from app.lightning import paying
from app.lightning.client import LndClient
from tests.lightning.conftest import client_for

ROOT = Path(__file__).resolve().parents[2]
MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]


async def mbf(*args: str) -> tuple[int, dict[str, Any] | str, str]:
    proc = await asyncio.create_subprocess_exec(
        *MBF, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode().strip()
    try:
        return proc.returncode or 0, json.loads(text), err.decode()
    except ValueError:
        return proc.returncode or 0, text, err.decode()


async def test_drive_a_running_devlnd_from_the_command_line() -> None:
    proc = await asyncio.create_subprocess_exec(
        *MBF, "devlnd", "--port", "0", "--seed", "3", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        url = info["controlUrl"]
        assert url.startswith("http://127.0.0.1:")
        async with LndClient(info["host"], info["port"], info["tlsCert"], info["macaroons"]["admin"]) as c:
            added = await c.add_invoice(amount_msat=42_000_000, memo="from the cli")
            # the payment request is signed by the node: an independent decoder names it as payee
            assert independent.decode(added.payment_request).payee == info["pubkey"]

            code, out, _ = await mbf("devlnd", "--control-url", url, "--settle", added.payment_hash)
            assert code == 0 and isinstance(out, dict) and out["state"] == "SETTLED"
            assert (await c.lookup_invoice(added.payment_hash)).state == "SETTLED"

            code, out, _ = await mbf("devlnd", "--control-url", url, "--pay-in", "5000")
            assert code == 0 and isinstance(out, dict)
            paid_in = await c.lookup_invoice(out["paymentHash"])
            assert paid_in.state == "SETTLED" and paid_in.amt_paid_msat == 5_000_000

            height = (await c.get_info()).block_height
            code, out, _ = await mbf("devlnd", "--control-url", url, "--mine", "3")
            assert code == 0 and (await c.get_info()).block_height == height + 3

            code, out, _ = await mbf("devlnd", "--control-url", url, "--invoice-from", "alice:1000")
            assert code == 0 and isinstance(out, dict)
            pr = out["paymentRequest"]
            code, out, _ = await mbf("devlnd", "--control-url", url, "--fail-route")
            assert code == 0 and out == {"failRoute": True}
            updates = [p async for p in paying.pay_invoice(c, pr, amount_msat=None, fee_limit=0, timeout_s=30)]
            assert updates[-1].status == "FAILED" and updates[-1].last_htlc_failure == "TEMPORARY_CHANNEL_FAILURE"
            await mbf("devlnd", "--control-url", url, "--no-fail-route")
            updates = [p async for p in paying.pay_invoice(c, pr, amount_msat=None, fee_limit=0, timeout_s=30)]
            assert updates[-1].status == "SUCCEEDED"

            # bad requests change nothing and say why
            code, out, _ = await mbf("devlnd", "--control-url", url, "--settle", "nothex")
            assert code == 1 and isinstance(out, dict) and "64 hex" in out["error"]
            code, out, _ = await mbf("devlnd", "--control-url", url, "--settle", added.payment_hash)
            assert code == 1 and isinstance(out, dict) and "already settled" in out["error"]
            code, _, err = await mbf("devlnd", "--control-url", url, "--invoice-from", "alice")
            assert code == 2 and "PEER:SATS" in err
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    code, _, err = await mbf("devlnd", "--control-url", url, "--mine", "1")
    assert code == 2 and "cannot reach" in err


async def test_auto_settle_settles_new_invoices_by_themselves() -> None:
    async with DevLnd.start(seed=4, auto_settle_s=0.2) as node, client_for(node) as c:
        added = await c.add_invoice(amount_msat=7_000, memo="demo")
        assert (await c.lookup_invoice(added.payment_hash)).state == "OPEN"
        # nobody settles it: the invoice stream (replaying from just before it) shows it settling
        states = []
        async with asyncio.timeout(10):
            async for inv in c.invoice_updates(add_index=added.add_index - 1):
                if inv.payment_hash == added.payment_hash:
                    states.append(inv.state)
                    if inv.state == "SETTLED":
                        break
        assert states[-1] == "SETTLED"
        settled = await c.lookup_invoice(added.payment_hash)
        assert settled.amt_paid_msat == 7_000 and settled.settled_at is not None
