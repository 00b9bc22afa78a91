"""The four report formats over one sample portfolio (bundled real prices)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import shutil
import subprocess
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from app.reports.csv import TABLES, render_csv
from app.reports.data import ReportData
from app.reports.html import render_html
from app.reports.json import render_json
from app.reports.pdf import render_pdf
from tests.reports.sample import sample_report


@pytest.fixture(scope="module")
def report() -> ReportData:
    return sample_report()


def test_csv_is_one_file_per_table(report: ReportData) -> None:
    with zipfile.ZipFile(io.BytesIO(render_csv(report))) as z:
        assert sorted(z.namelist()) == sorted(TABLES)
        txs = list(csv.DictReader(io.StringIO(z.read("transactions.csv").decode())))
        disp = list(csv.DictReader(io.StringIO(z.read("disposals.csv").decode())))
        pending = list(csv.DictReader(io.StringIO(z.read("pending.csv").decode())))
    # every transaction of the period, with its fiat value = |sats| x close
    assert len(txs) == len(report.transactions) > 20
    sale = next(t for t in txs if t["type"] == "DISPOSAL" and t["date"] == "2025-02-03")
    assert sale["amount"] == str(-30_002_000) and sale["confirmed"] == "yes"
    assert Decimal(sale["value"]) == (Decimal(sale["price"]) * Decimal("0.30002")).quantize(Decimal("0.01"))
    # disposals of the period: the 2024-09-10 payment and the 2025-02-03 sale, each with its fee
    assert [(d["date"], d["kind"]) for d in disp] == [
        ("2024-09-10", "SPEND"), ("2024-09-10", "FEE"), ("2025-02-03", "SPEND"), ("2025-02-03", "FEE"),
    ]  # fmt: skip
    for d in disp:
        assert Decimal(d["gain"]) == Decimal(d["proceeds"]) - Decimal(d["cost"])
        assert d["holdingPeriod"] in {"SHORT", "LONG"} and d["method"] == "FIFO"
    assert disp[2]["wallets"] == "DCA stack"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d( \d{4}-\d\d-\d\d)*", disp[2]["acquiredDates"])
    # the mempool payment is pending, not an acquisition
    assert [(p["txid"], p["kind"], p["amount"]) for p in pending] == [("9" * 64, "ACQUISITION", "1500000")]
    assert "9" * 64 not in {t["txid"] for t in txs if t["confirmed"] == "yes"}


def test_generic_disposals_csv_has_the_json_fields(report: ReportData) -> None:
    doc = json.loads(render_json(report))
    with zipfile.ZipFile(io.BytesIO(render_csv(report))) as z:
        rows = list(csv.DictReader(io.StringIO(z.read("disposals.csv").decode())))
    json_rows = doc["costBasis"]["disposals"]
    assert len(rows) == len(json_rows)
    for row, j in zip(rows, json_rows, strict=True):
        for key in ("date", "txid", "kind", "wallets", "amount", "acquiredDate", "holdingDays", "holdingPeriod",
                    "proceeds", "cost", "gain", "feeIncluded"):  # fmt: skip
            assert row[key] == ("" if j[key] is None else str(j[key])), key
        assert row["acquiredDates"].split() == j["acquiredDates"]


def test_form_8949_lines_and_aggregated_fees(report: ReportData) -> None:
    with zipfile.ZipFile(io.BytesIO(render_csv(report))) as z:
        lines = list(csv.reader(io.StringIO(z.read("form8949.csv").decode())))
    header, body = lines[0], lines[1:]
    assert header[:9] == [
        "Part", "(a) Description of property", "(b) Date acquired", "(c) Date sold or disposed of",
        "(d) Proceeds (sales price)", "(e) Cost or other basis", "(f) Code(s)", "(g) Amount of adjustment",
        "(h) Gain or (loss)",
    ]  # fmt: skip
    spends = [r for r in report.period_disposals if r.kind == "SPEND"]
    fees = [r for r in report.period_disposals if r.kind == "FEE"]
    assert len(body) == len(spends) + len({(r.day.year, r.holding_period) for r in fees})  # fees: a line per year
    parts = [line[0] for line in body]
    assert parts == sorted(parts, key=lambda p: p != "I")  # Part I (short term) before Part II
    sale = next(line for line in body if line[3] == "02/03/2025" and "network fees" not in line[1])
    assert sale[1] == "0.30000000 BTC" and re.fullmatch(r"\d\d/\d\d/\d{4}|VARIOUS", sale[2])
    fee_line = next(line for line in body if "network fees" in line[1] and "2025" in line[3])
    assert fee_line[1] == "0.00002000 BTC (network fees, 1 transaction)"
    total = sum(Decimal(line[8]) for line in body)
    assert total == report.period_realized_gain
    for line in body:
        assert Decimal(line[8]) == Decimal(line[4]) - Decimal(line[5])


def camel_keys(x: object) -> list[str]:
    """Every key of a JSON document that is not camelCase."""
    bad: list[str] = []
    if isinstance(x, dict):
        for k, v in x.items():
            if not re.fullmatch(r"[a-z][a-zA-Z0-9]*", k):
                bad.append(k)
            bad += camel_keys(v)
    elif isinstance(x, list):
        for v in x:
            bad += camel_keys(v)
    return bad


def test_json_has_everything_in_the_api_shapes(report: ReportData) -> None:
    doc = json.loads(render_json(report))
    assert camel_keys(doc) == []
    assert doc["currency"] == "USD" and doc["period"]["label"] == "Y1" and doc["period"]["timeframe"] == "Y1"
    assert doc["title"] == "Bitcoin portfolio report, last 365 days (Y1)"
    perf = doc["performance"]
    assert perf["timeWeightedReturn"] == pytest.approx(report.performance.time_weighted_return)
    assert "netDeposits" in perf and "netFlows" not in perf
    # money as decimal strings with 2 places, never floats
    money = [doc["value"], perf["startValue"], perf["endValue"], perf["netDeposits"], doc["costBasis"]["totalCost"],
             *[d[k] for d in doc["costBasis"]["disposals"] for k in ("proceeds", "cost", "gain")],
             *[v["value"] for v in doc["valueHistory"]], *[a["value"] for a in doc["allocation"]],
             *[b["invested"] for b in perf["benchmark"]]]  # fmt: skip
    assert all(isinstance(m, str) and re.fullmatch(r"-?\d+\.\d\d", m) for m in money), money[:5]
    assert len(doc["valueHistory"]) == 366
    assert doc["costBasis"]["method"] == "FIFO" and doc["costBasis"]["longTermMonths"] == 12
    assert Decimal(doc["costBasis"]["realizedGain"]) == report.period_realized_gain
    assert [p["txid"] for p in doc["costBasis"]["pending"]] == ["9" * 64]
    assert {f["name"] for f in doc["risk"]["factors"]} >= {"single_sig_share", "market"}
    assert len(doc["transactions"]) == len(report.transactions)
    assert isinstance(doc["balance"], int)


def test_every_percentage_is_recomputed_from_the_report_s_own_tables(report: ReportData) -> None:
    doc = json.loads(render_json(report))
    alloc = doc["allocation"]
    total = sum(max(0, a["balance"]) for a in alloc)
    assert total == doc["balance"] == doc["valueHistory"][-1]["balance"]
    price = Decimal(doc["price"]["value"])
    # the one valuation: value = balance x price, the same in the summary, performance and allocation
    assert Decimal(doc["value"]) == (price * total / 100_000_000).quantize(Decimal("0.01"))
    assert doc["performance"]["endValue"] == doc["value"] == doc["valueHistory"][-1]["value"]
    assert Decimal(doc["valueHistory"][-1]["price"]) == price
    for a in alloc:
        assert a["share"] == pytest.approx(a["balance"] / total, rel=1e-12)
        assert Decimal(a["value"]) == (price * a["balance"] / 100_000_000).quantize(Decimal("0.01"))
    factors = {f["name"]: f for f in doc["risk"]["factors"]}
    largest = max(alloc, key=lambda a: a["balance"])
    assert factors["concentration"]["score"] == round(100 * largest["share"], 1)
    assert f"{largest['share'] * 100:.1f}%" in factors["concentration"]["detail"]
    single = sum(a["balance"] for a in alloc if not a["multisig"]) / total
    assert factors["single_sig_share"]["score"] == round(100 * single, 1)
    unconfirmed = sum(max(0, a["unconfirmed"]) for a in alloc) / total
    assert unconfirmed > 0 and factors["unconfirmed_exposure"]["score"] == round(100 * unconfirmed, 1)
    # performance from the value history table: TWR, drawdown, buy and hold
    hist = doc["valueHistory"]
    growth, wealth, peak, worst = 1.0, 1.0, 1.0, 0.0
    for prev, cur in itertools.pairwise(hist):
        v0, v1, f1 = float(prev["value"]), float(cur["value"]), float(cur["netDeposits"])
        r = (v1 - f1) / v0 - 1 if v0 > 0 else 0.0
        growth *= 1 + r
        wealth *= 1 + r
        peak = max(peak, wealth)
        worst = min(worst, wealth / peak - 1)
    perf = doc["performance"]
    assert perf["timeWeightedReturn"] == pytest.approx(growth - 1, abs=1e-6)
    assert perf["maxDrawdown"]["value"] == pytest.approx(worst, abs=1e-6)
    hold = next(b for b in perf["benchmark"] if b["name"] == "Buy and hold")
    assert hold["return"] == pytest.approx(float(hist[-1]["price"]) / float(hist[0]["price"]) - 1, rel=1e-9)
    # gains: the summary rows are the sums of the disposal rows
    rows = doc["costBasis"]["disposals"]
    for s in doc["costBasis"]["summary"]:
        mine = [r for r in rows if s["start"] <= r["date"] <= s["end"] and r["holdingPeriod"] == s["holdingPeriod"]]
        assert Decimal(s["gain"]) == sum(Decimal(r["gain"]) for r in mine)
        assert s["disposals"] == sum(1 for r in mine if r["kind"] == "SPEND")
    assert Decimal(doc["costBasis"]["realizedGain"]) == sum(Decimal(s["gain"]) for s in doc["costBasis"]["summary"])
    # and the HTML shows the allocation share the risk section talks about
    html = render_html(report).decode()
    assert html.count(f"{largest['share'] * 100:.1f}%") >= 2


def test_returns_beyond_1000_percent_print_as_multiples() -> None:
    from app.reports.data import fmt_pct

    assert fmt_pct(10209.94) == "×10,211"  # +1,020,994 %: the money grew 10,211-fold
    assert fmt_pct(9.99) == "+999.00%" and fmt_pct(-0.5) == "-50.00%" and fmt_pct(None) == "n/a"


def test_a_report_with_missing_prices_says_so_instead_of_inventing_numbers() -> None:
    # the bundled file ends on 2025-09-23 and the spot price is the close of 2025-12-31: the 98 days in
    # between are a gap far longer than 7 days, so they are missing, not interpolated
    r = sample_report(end=date(2025, 12, 31), max_gap_days=7, spot_value=Decimal("90000"))
    perf = r.performance
    assert perf.time_weighted_return is None and perf.volatility is None and perf.sharpe_ratio is None
    assert "sharpeRatio" in perf.missing and perf.missing_days == (date(2025, 12, 30) - date(2025, 9, 24)).days + 1
    market = next(f for f in r.risk.factors if f.name == "market")
    assert market.score is None and "Not scored" in market.detail
    doc = json.loads(render_json(r))
    assert doc["performance"]["sharpeRatio"] is None and doc["performance"]["maxDrawdown"]["value"] is None
    assert doc["valueHistory"][-2]["value"] is None and doc["valueHistory"][-2]["missing"] is True
    assert doc["valueHistory"][-1]["value"] == doc["value"]  # the last day is valued at the spot price
    assert any("not computed" in n for n in doc["notes"])
    html = render_html(r).decode()
    assert "not scored" in html and "n/a" in html
    assert render_pdf(r).startswith(b"%PDF")


def test_html_is_self_contained_with_three_charts(report: ReportData) -> None:
    html = render_html(report).decode()
    assert html.count("<svg") == 3
    # no external assets: no src/href to anything, no scripts
    assert not re.search(r"(src|href)\s*=", html)
    assert "<script" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    for text in ("Summary", "Performance", "Value over time", "Drawdown", "Allocation by wallet",
                 "Cost basis and gains (FIFO, fees: dispose)", "Risk", "Transactions", "Family savings",
                 "Sold to pay the builder", "Realised gains per tax year and holding period",
                 "network fees, 1 transaction", "Pending (unconfirmed", "LONG = held more than 12 months"):  # fmt: skip
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
    for needle in ("Bitcoin portfolio report, last 365 days (Y1)", "Summary", "Time-weighted return",
                   "Value over time", "Allocation by wallet", "Cost basis and gains (FIFO, fees disposed of)",
                   "Risk:", "Transactions", "Cold storage 2-of-3", "2025-02-03",
                   "Realised gains per tax year and holding period", "Pending: unconfirmed",
                   "LONG = held more than 12 months"):  # fmt: skip
        assert needle in text
    # the disposal table names the wallet and the txid of each disposal
    sale = next(line for line in text.splitlines() if line.lstrip().startswith("2025-02-03") and "DCA stack" in line)
    assert "ffffffffffffffff" in sale


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
