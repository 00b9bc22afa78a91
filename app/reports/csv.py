"""CSV: transactions with fiat values, and disposals with gains (two files, bundled in a zip)."""

from __future__ import annotations

import csv
import io
import zipfile

from app.reports.data import ReportData, fmt_btc

TX_HEADER = [
    "date", "txid", "wallets", "type", "amount_btc", "amount_sats", "fee_sats",
    "price", "value", "currency", "price_estimated", "label",
]  # fmt: skip
DISPOSAL_HEADER = [
    "date", "txid", "kind", "amount_btc", "amount_sats", "date_acquired", "proceeds", "cost_basis",
    "gain", "holding_period", "currency", "method", "price_estimated", "missing_basis",
]  # fmt: skip


def _text(value: str) -> str:
    """User text (wallet names, labels) that a spreadsheet must not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def transactions_csv(data: ReportData) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TX_HEADER)
    for t in data.transactions:
        w.writerow(
            [
                t.day.isoformat(), t.txid, _text(t.wallets), t.kind, fmt_btc(t.sats), t.sats, t.fee_sats,
                f"{t.price:.2f}", f"{t.fiat_value:.2f}", data.currency,
                "yes" if t.price_estimated else "no", _text(t.label),
            ]
        )  # fmt: skip
    return buf.getvalue()


def disposals_csv(data: ReportData) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DISPOSAL_HEADER)
    cb = data.cost_basis
    for r in data.period_disposals:
        w.writerow(
            [
                r.day.isoformat(), r.txid, r.kind, fmt_btc(r.sats), r.sats,
                r.acquired.isoformat() if r.acquired else "", f"{r.proceeds:.2f}", f"{r.cost:.2f}",
                f"{r.gain:.2f}", r.holding_period, data.currency, cb.method.value,
                "yes" if r.price_estimated else "no", "yes" if r.missing_basis else "no",
            ]
        )  # fmt: skip
    return buf.getvalue()


def render_csv(data: ReportData) -> bytes:
    """A zip with ``transactions.csv`` and ``disposals.csv``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("transactions.csv", transactions_csv(data))
        z.writestr("disposals.csv", disposals_csv(data))
    return out.getvalue()
