"""The four report formats over one sample portfolio (bundled real prices)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from app.reports.csv import render_csv
from app.reports.data import ReportData
from app.reports.html import render_html
from app.reports.json import render_json
from app.reports.pdf import render_pdf
from tests.reports.sample import sample_report


@pytest.fixture(scope="module")
def report() -> ReportData:
    return sample_report()


def test_csv_transactions_and_disposals(report: ReportData) -> None:
    with zipfile.ZipFile(io.BytesIO(render_csv(report))) as z:
        assert sorted(z.namelist()) == ["disposals.csv", "transactions.csv"]
        txs = list(csv.DictReader(io.StringIO(z.read("transactions.csv").decode())))
        disp = list(csv.DictReader(io.StringIO(z.read("disposals.csv").decode())))
    # every transaction of the period, with its fiat value = |sats| x close
    assert len(txs) == len(report.transactions) > 20
    sale = next(t for t in txs if t["type"] == "DISPOSAL")
    assert sale["date"] == "2025-02-03" and sale["amount_sats"] == str(-30_002_000)
    assert Decimal(sale["value"]) == (Decimal(sale["price"]) * Decimal("0.30002")).quantize(Decimal("0.01"))
    # disposals of the period (the 2025-02-03 sale and its fee), gains = proceeds - cost
    assert [(d["date"], d["kind"]) for d in disp] == [("2025-02-03", "SPEND"), ("2025-02-03", "FEE")]
    for d in disp:
        assert Decimal(d["gain"]) == Decimal(d["proceeds"]) - Decimal(d["cost_basis"])
        assert d["holding_period"] in {"SHORT", "LONG"} and d["method"] == "FIFO"


def test_json_has_everything(report: ReportData) -> None:
    doc = json.loads(render_json(report))
    assert doc["currency"] == "USD" and doc["timeframe"] == "Y1"
    assert doc["performance"]["timeWeightedReturn"] == pytest.approx(report.performance.time_weighted_return)
    assert len(doc["valueHistory"]) == 366
    assert doc["costBasis"]["method"] == "FIFO"
    assert Decimal(doc["costBasis"]["realizedGain"]) == report.cost_basis.realized_gain
    assert {f["name"] for f in doc["risk"]["factors"]} >= {"single_sig_share", "market"}
    assert len(doc["transactions"]) == len(report.transactions)
    assert isinstance(doc["balanceSats"], int)


def test_html_is_self_contained_with_three_charts(report: ReportData) -> None:
    html = render_html(report).decode()
    assert html.count("<svg") == 3
    # no external assets: no src/href to anything, no scripts
    assert not re.search(r"(src|href)\s*=", html)
    assert "<script" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    for text in ("Summary", "Performance", "Value over time", "Drawdown", "Allocation by wallet",
                 "Cost basis and gains (FIFO)", "Risk", "Transactions", "Family savings",
                 "Sold to pay the builder"):  # fmt: skip
        assert text in html


def test_html_escapes_user_text(report: ReportData) -> None:
    from dataclasses import replace

    evil = replace(report, portfolio_name="<script>alert(1)</script>")
    html = render_html(evil).decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_pdf_renders_all_sections(report: ReportData, tmp_path: Path) -> None:
    pdf = render_pdf(report)
    assert pdf.startswith(b"%PDF")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout
    for needle in ("Bitcoin portfolio report", "Summary", "Time-weighted return", "Value over time",
                   "Allocation by wallet", "Cost basis and gains (FIFO)", "Risk:", "Transactions",
                   "Cold storage 2-of-3", "2025-02-03"):  # fmt: skip
        assert needle in text


def test_empty_report_renders(report: ReportData) -> None:
    from dataclasses import replace

    empty = replace(report, transactions=[], allocation=[], notes=["Nothing here yet."])
    assert render_pdf(empty).startswith(b"%PDF")
    assert b"No transactions in this period" in render_html(empty)


def test_many_wallets_are_summarised_in_the_charts(report: ReportData) -> None:
    from dataclasses import replace

    from app.reports.data import AllocationRow, chart_allocation

    many = [
        AllocationRow(f"Wallet {i}", 1_000_000 * (60 - i), Decimal(600 - 10 * i), (60 - i) / 1830) for i in range(60)
    ]
    big = replace(report, allocation=many)
    rows = chart_allocation(big)
    assert len(rows) == 11 and rows[-1].wallet == "Other (50 wallets)"
    assert sum(r.sats for r in rows) == sum(a.sats for a in many)
    assert render_pdf(big).startswith(b"%PDF")  # the chart fits on a page
    assert render_html(big).count(b"<rect") == 11


def test_csv_neutralises_formulas_in_user_text(report: ReportData) -> None:
    from dataclasses import replace

    tx = replace(report.transactions[0], label='=HYPERLINK("http://evil")', wallets="@SUM(1)")
    with zipfile.ZipFile(io.BytesIO(render_csv(replace(report, transactions=[tx])))) as z:
        row = next(csv.DictReader(io.StringIO(z.read("transactions.csv").decode())))
    assert row["label"] == '\'=HYPERLINK("http://evil")' and row["wallets"] == "'@SUM(1)"
