"""CSV: every table of the report as its own file, bundled in one zip (``<portfolio>-<period>-csv.zip``).

- ``transactions.csv``: the period's transactions with fiat values.
- ``disposals.csv``: the generic export, the same fields as the JSON report's ``costBasis.disposals``.
- ``form8949.csv``: the columns of IRS Form 8949 (Part I short term, Part II long term); network-fee
  disposals are one line per tax year and holding class.
- ``gains-summary.csv``: realised gains per tax year and holding class.
- ``pending.csv``: unconfirmed transactions (not disposals until they confirm).
- ``allocation.csv`` and ``value-history.csv``: the tables the percentages are computed from.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date

from app.analytics.gains import fee_lines
from app.reports.data import ReportData, fmt_btc

TX_HEADER = [
    "date", "txid", "wallets", "type", "confirmed", "amount_btc", "amount", "fee",
    "price", "value", "currency", "price_estimated", "label",
]  # fmt: skip
# the JSON report's disposal fields, in the same order and names
DISPOSAL_HEADER = [
    "date", "txid", "kind", "wallets", "amount", "amountBtc", "acquiredDate", "acquiredDates", "holdingDays",
    "holdingPeriod", "proceeds", "cost", "gain", "feeIncluded", "currency", "method", "priceEstimated",
    "missingBasis",
]  # fmt: skip
FORM_8949_HEADER = [
    "Part", "(a) Description of property", "(b) Date acquired", "(c) Date sold or disposed of",
    "(d) Proceeds (sales price)", "(e) Cost or other basis", "(f) Code(s)", "(g) Amount of adjustment",
    "(h) Gain or (loss)",
]  # fmt: skip
SUMMARY_HEADER = [
    "taxYear", "label", "from", "to", "holdingPeriod", "disposals", "proceeds", "cost", "gain",
    "feeDisposals", "feeProceeds", "feeCost", "feeGain", "currency",
]  # fmt: skip
PENDING_HEADER = ["date", "txid", "kind", "wallets", "amount", "fee"]
ALLOCATION_HEADER = ["wallet", "multisig", "confirmed", "unconfirmed", "balance", "value", "share", "currency"]
HISTORY_HEADER = ["date", "balance", "price", "value", "netDeposit", "estimated", "missing"]


def _text(value: str) -> str:
    """User text (wallet names, labels) that a spreadsheet must not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def transactions_csv(data: ReportData) -> str:
    return _table(
        TX_HEADER,
        (
            [
                t.day.isoformat(), t.txid, _text(t.wallets), t.kind, _yn(t.confirmed), fmt_btc(t.sats), t.sats,
                t.fee_sats, "" if t.price is None else f"{t.price:.2f}",
                "" if t.fiat_value is None else f"{t.fiat_value:.2f}", data.currency, _yn(t.price_estimated),
                _text(t.label),
            ]
            for t in data.transactions
        ),
    )  # fmt: skip


def disposals_csv(data: ReportData) -> str:
    method = data.cost_basis.method.value
    return _table(
        DISPOSAL_HEADER,
        (
            [
                r.day.isoformat(), r.txid, r.kind, _text(data.wallet_list(r.wallet_ids)), r.sats, fmt_btc(r.sats),
                r.acquired.isoformat() if r.acquired else "", " ".join(d.isoformat() for d in r.acquired_dates),
                "" if r.holding_days is None else r.holding_days, r.holding_period, f"{r.proceeds:.2f}",
                f"{r.cost:.2f}", f"{r.gain:.2f}", r.fee_sats, data.currency, method, _yn(r.price_estimated),
                _yn(r.missing_basis),
            ]
            for r in data.period_disposals
        ),
    )  # fmt: skip


def _us(d: date) -> str:
    return d.strftime("%m/%d/%Y")


def form8949_csv(data: ReportData) -> str:
    """Form 8949 lines: Part I (short term) first, then Part II (long term); one line per disposal
    row of coins sent to others, fees aggregated per tax year and class."""
    lines: list[tuple[str, date, list[object]]] = []
    for r in data.period_disposals:
        if r.kind == "FEE":
            continue
        if len(r.acquired_dates) == 1:
            acquired = _us(r.acquired_dates[0])
        else:
            acquired = "VARIOUS" if r.acquired_dates else "UNKNOWN"
        part = "I" if r.holding_period == "SHORT" else "II"
        lines.append(
            (part, r.day, [part, f"{fmt_btc(r.sats)} BTC", acquired, _us(r.day), f"{r.proceeds:.2f}", f"{r.cost:.2f}",
                           "", "", f"{r.gain:.2f}"])
        )  # fmt: skip
    for f in fee_lines(data.period_disposals, data.fiscal_year_start):
        part = "I" if f.holding_period == "SHORT" else "II"
        if f.acquired_first is None:
            acquired = "UNKNOWN"
        else:
            acquired = _us(f.acquired_first) if f.acquired_first == f.acquired_last else "VARIOUS"
        sold = _us(f.first) if f.first == f.last else "VARIOUS"
        what = f"{fmt_btc(f.sats)} BTC (network fees, {f.count} transaction{'s' if f.count != 1 else ''})"
        lines.append(
            (part, f.last, [part, what, acquired, sold, f"{f.proceeds:.2f}", f"{f.cost:.2f}", "", "", f"{f.gain:.2f}"])
        )
    lines.sort(key=lambda x: (x[0] != "I", x[1]))
    return _table(FORM_8949_HEADER, (line for _, _, line in lines))


def summary_csv(data: ReportData) -> str:
    return _table(
        SUMMARY_HEADER,
        (
            [
                s.tax_year, s.label, s.start.isoformat(), s.end.isoformat(), s.holding_period, s.disposals,
                f"{s.proceeds:.2f}", f"{s.cost:.2f}", f"{s.gain:.2f}", s.fee_disposals, f"{s.fee_proceeds:.2f}",
                f"{s.fee_cost:.2f}", f"{s.fee_gain:.2f}", data.currency,
            ]
            for s in data.gains_summary
        ),
    )  # fmt: skip


def pending_csv(data: ReportData) -> str:
    return _table(
        PENDING_HEADER,
        ([p.day.isoformat(), p.txid, p.kind, _text(data.wallet_list(p.wallet_ids)), p.sats, p.fee_sats]
         for p in data.pending),
    )  # fmt: skip


def allocation_csv(data: ReportData) -> str:
    return _table(
        ALLOCATION_HEADER,
        ([_text(a.wallet), _yn(a.multisig), a.confirmed, a.unconfirmed, a.sats,
          "" if a.value is None else f"{a.value:.2f}", f"{a.share:.10f}", data.currency] for a in data.allocation),
    )  # fmt: skip


def value_history_csv(data: ReportData) -> str:
    return _table(
        HISTORY_HEADER,
        ([v.day.isoformat(), v.balance, "" if v.price is None else f"{v.price}",
          "" if v.value is None else f"{v.value:.2f}", "" if v.flow is None else f"{v.flow:.2f}",
          _yn(v.estimated), _yn(v.missing)] for v in data.value_points),
    )  # fmt: skip


TABLES = {
    "transactions.csv": transactions_csv,
    "disposals.csv": disposals_csv,
    "form8949.csv": form8949_csv,
    "gains-summary.csv": summary_csv,
    "pending.csv": pending_csv,
    "allocation.csv": allocation_csv,
    "value-history.csv": value_history_csv,
}


def render_csv(data: ReportData) -> bytes:
    """A zip with one CSV file per table."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, table in TABLES.items():
            z.writestr(name, table(data))
    return out.getvalue()
