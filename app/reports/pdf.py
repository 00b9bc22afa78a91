"""PDF: the same content as the HTML report, laid out with reportlab (charts drawn natively)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app.analytics.gains import fee_lines
from app.reports.data import (
    ReportData,
    chart_allocation,
    fmt_btc,
    fmt_money,
    performance_rows,
    summary_rows,
)

ORANGE = colors.HexColor("#f7931a")
RED = colors.HexColor("#c0392b")
GRID = colors.HexColor("#dddddd")
HEAD = colors.HexColor("#f3f3f3")
WIDTH = A4[0] - 36 * mm


def _styles() -> dict[str, ParagraphStyle]:
    ss = getSampleStyleSheet()
    return {
        "h1": ParagraphStyle("h1", parent=ss["Title"], fontSize=18, alignment=0, spaceAfter=4),
        "h2": ParagraphStyle(
            "h2",
            parent=ss["Heading2"],
            fontSize=13,
            spaceBefore=10,
            spaceAfter=4,
            textColor=colors.black,
            keepWithNext=1,
        ),
        "body": ParagraphStyle("body", parent=ss["BodyText"], fontSize=9, leading=11),
        "small": ParagraphStyle("small", parent=ss["BodyText"], fontSize=7.5, leading=9, textColor=colors.grey),
        "cell": ParagraphStyle("cell", parent=ss["BodyText"], fontSize=7.5, leading=9),
        "note": ParagraphStyle(
            "note", parent=ss["BodyText"], fontSize=8.5, backColor=colors.HexColor("#fff7e6"), borderPadding=4
        ),
    }


def _table(rows: Sequence[Sequence[object]], widths: list[float], num_cols: tuple[int, ...] = ()) -> Table:
    t = Table(rows, colWidths=widths, repeatRows=1)
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for c in num_cols:
        style.append(("ALIGN", (c, 0), (c, -1), "RIGHT"))
    t.setStyle(TableStyle(style))
    return t


def _line_chart(
    days: list[date], values: list[float], color: colors.Color, percent: bool = False, height: float = 150
) -> Drawing:
    d = Drawing(WIDTH, height)
    if not values:
        d.add(String(WIDTH / 2, height / 2, "No data", textAnchor="middle", fontSize=9))
        return d
    lp = LinePlot()
    lp.x, lp.y = 48, 22
    lp.width, lp.height = WIDTH - 60, height - 32
    ords = [x.toordinal() for x in days]
    lp.data = [list(zip(ords, values, strict=True))]
    lp.lines[0].strokeColor = color
    lp.lines[0].strokeWidth = 1.2
    lp.xValueAxis.valueMin = ords[0]
    lp.xValueAxis.valueMax = ords[-1] if len(ords) > 1 else ords[0] + 1
    n = max(1, (len(ords) - 1) // 5)
    lp.xValueAxis.valueSteps = ords[::n]
    lp.xValueAxis.labelTextFormat = lambda v: date.fromordinal(int(v)).isoformat()
    lp.xValueAxis.labels.fontSize = 7
    lp.yValueAxis.labels.fontSize = 7
    lp.yValueAxis.visibleGrid = True
    lp.yValueAxis.gridStrokeColor = GRID
    if percent:
        lp.yValueAxis.valueMax = 0
        lp.yValueAxis.labelTextFormat = lambda v: f"{v * 100:.0f}%"
    else:
        lp.yValueAxis.valueMin = 0
        lp.yValueAxis.labelTextFormat = lambda v: f"{v / 1000:,.0f}k" if abs(v) >= 10_000 else f"{v:,.0f}"
    d.add(lp)
    return d


def _allocation_chart(data: ReportData) -> Drawing:
    alloc = chart_allocation(data)
    h = 34 + 18 * max(1, len(alloc))
    d = Drawing(WIDTH, h)
    if not alloc:
        d.add(String(10, h / 2, "No wallets", fontSize=9))
        return d
    bc = HorizontalBarChart()
    bc.x, bc.y = 110, 22
    bc.width, bc.height = WIDTH - 200, h - 28
    bc.data = [[a.share * 100 for a in reversed(alloc)]]
    bc.categoryAxis.categoryNames = [a.wallet[:24] for a in reversed(alloc)]
    bc.categoryAxis.labels.fontSize = 7.5
    bc.valueAxis.valueMin = 0
    bc.valueAxis.valueMax = 100
    bc.valueAxis.labels.fontSize = 7
    bc.valueAxis.labelTextFormat = "%d%%"
    bc.bars[0].fillColor = ORANGE
    bc.bars[0].strokeColor = None
    bc.barLabelFormat = "%.1f%%"
    bc.barLabels.fontSize = 7
    bc.barLabels.boxAnchor = "w"
    bc.barLabels.dx = 4
    d.add(bc)
    return d


def _footer(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.setFillColor(colors.grey)
    canvas.drawString(18 * mm, 10 * mm, doc.title)
    canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
    canvas.restoreState()


def render_pdf(data: ReportData) -> bytes:
    st = _styles()
    cur = data.currency
    story: list[object] = [
        Paragraph(data.title, st["h1"]),
        Paragraph(
            f"Portfolio <b>{_esc(data.portfolio_name)}</b> · {_esc(data.owner)} · period "
            f"<b>{_esc(data.period_label)}</b>: {data.period_first} to {data.period_end} · values in {cur} · generated "
            f"{data.generated_at.strftime('%Y-%m-%d %H:%M UTC')}",
            st["body"],
        ),
        Spacer(1, 4),
    ]
    for n in data.notes:
        story += [Paragraph(_esc(n), st["note"]), Spacer(1, 4)]

    story.append(Paragraph("Summary", st["h2"]))
    story.append(
        _table([["Item", "Value"], *[[k, v] for k, v in summary_rows(data)]], [70 * mm, WIDTH - 70 * mm], (1,))
    )

    perf = [["Metric", "Value", "Notes"]] + [
        [k, v, Paragraph(_esc(n), st["cell"])] for k, v, n in performance_rows(data)
    ]
    story.append(
        KeepTogether([Paragraph("Performance", st["h2"]), _table(perf, [55 * mm, 30 * mm, WIDTH - 85 * mm], (1,))])
    )

    days, values, dds = data.series
    story.append(KeepTogether([Paragraph(f"Value over time ({cur})", st["h2"]), _line_chart(days, values, ORANGE)]))
    story.append(
        KeepTogether(
            [
                Paragraph("Drawdown from the previous peak (flows neutralised)", st["h2"]),
                _line_chart(days, dds, RED, percent=True, height=120),
            ]
        )
    )
    alloc_rows = [["Wallet", "Kind", "BTC", f"Value ({cur})", "Share"]] + [
        [
            Paragraph(_esc(a.wallet), st["cell"]), "multisig" if a.multisig else "single-sig", fmt_btc(a.sats),
            fmt_money(a.value), f"{a.share * 100:.1f}%",
        ]
        for a in data.allocation
    ]  # fmt: skip
    story.append(
        KeepTogether(
            [
                Paragraph("Allocation by wallet", st["h2"]),
                _allocation_chart(data),
                _table(alloc_rows, [55 * mm, 22 * mm, 33 * mm, 38 * mm, WIDTH - 148 * mm], (2, 3, 4)),
            ]
        )
    )

    cb = data.cost_basis
    fees_how = "fees disposed of" if cb.fee_treatment.value == "DISPOSE" else "fees added to cost"
    story.append(Paragraph(f"Cost basis and gains ({cb.method.value}, {fees_how})", st["h2"]))
    story.append(
        _table(
            [
                ["Item", f"Amount ({cur})"],
                ["Cost of bitcoin held", fmt_money(cb.known_total_cost)],
                ["Value of bitcoin held", fmt_money(cb.current_value)],
                ["Unrealized gain", fmt_money(cb.known_unrealized)],
                ["Realized gain in the period", fmt_money(data.period_realized_gain)],
                ["Realized gain (all time)", fmt_money(cb.realized_in())],
            ],
            [70 * mm, WIDTH - 70 * mm],
            (1,),
        )
    )
    w = WIDTH / 100
    if data.gains_summary:
        srows: list[list[object]] = [["Tax year", "Term", "Disposals", "Proceeds", "Cost", "Gain", "of it fees"]]
        for g in data.gains_summary:
            count = f"{g.disposals}" + (f" + {g.fee_disposals} fees" if g.fee_disposals else "")
            srows.append(
                [
                    f"{g.label} ({g.start} to {g.end})", g.holding_period, count, fmt_money(g.proceeds),
                    fmt_money(g.cost), fmt_money(g.gain), fmt_money(g.fee_gain),
                ]
            )  # fmt: skip
        story += [
            Paragraph("Realised gains per tax year and holding period", st["body"]),
            _table(srows, [w * x for x in (30, 9, 12, 13, 13, 12, 11)], (2, 3, 4, 5, 6)),
        ]
    spends = [r for r in data.period_disposals if r.kind != "FEE"]
    fees = fee_lines(data.period_disposals, data.fiscal_year_start)
    if spends or fees:
        rows: list[list[object]] = [
            ["Date", "Wallet", "Txid", "BTC", "Acquired", "Days", "Proceeds", "Cost", "Gain", "Term"]
        ]
        for r in spends:
            acquired = ", ".join(str(d) for d in r.acquired_dates[:2]) + (" …" if len(r.acquired_dates) > 2 else "")
            unknown = r.price_missing
            rows.append(
                [
                    r.day.isoformat(), Paragraph(_esc(data.wallet_list(r.wallet_ids)), st["cell"]),
                    Paragraph(r.txid[:16] + "…", st["cell"]), fmt_btc(r.sats) + (" *" if r.missing_basis else ""),
                    Paragraph(acquired or "—", st["cell"]), "—" if r.holding_days is None else str(r.holding_days),
                    fmt_money(None if unknown else r.proceeds), fmt_money(None if unknown else r.cost),
                    fmt_money(None if unknown else r.gain), r.holding_period,
                ]
            )  # fmt: skip
        for fl in fees:
            acq = "—" if fl.acquired_first is None else str(fl.acquired_first)
            if fl.acquired_last != fl.acquired_first:
                acq += f" – {fl.acquired_last}"
            rows.append(
                [
                    fl.label, Paragraph(f"network fees, {fl.count} tx", st["cell"]), "", fmt_btc(fl.sats),
                    Paragraph(acq, st["cell"]), "", fmt_money(fl.proceeds), fmt_money(fl.cost), fmt_money(fl.gain),
                    fl.holding_period,
                ]
            )  # fmt: skip
        story += [
            Spacer(1, 4),
            _table(rows, [w * x for x in (10, 12, 12, 11, 11, 5, 11, 10, 10, 8)], (3, 5, 6, 7, 8)),
        ]
    how = (
        "and network fees (summed per tax year and term)"
        if cb.fee_treatment.value == "DISPOSE"
        else "; network fees are added to the cost of the disposal they paid for"
    )
    story.append(
        Paragraph(
            f"Disposals are coins sent to others {how}; transfers between your own wallets are not disposals. "
            f"LONG = held more than {cb.long_term_months} months.",
            st["small"],
        )
    )
    if data.pending:
        prow: list[list[object]] = [["First seen", "Type", "Wallets", "BTC", "Fee (sats)", "Txid"]]
        for pt in data.pending:
            prow.append(
                [
                    pt.day.isoformat(), pt.kind.lower(), Paragraph(_esc(data.wallet_list(pt.wallet_ids)), st["cell"]),
                    fmt_btc(pt.sats), f"{pt.fee_sats:,}", Paragraph(pt.txid[:16] + "…", st["cell"]),
                ]
            )  # fmt: skip
        story += [
            Paragraph("Pending: unconfirmed, not yet disposals or acquisitions", st["body"]),
            _table(prow, [w * x for x in (13, 13, 22, 16, 12, 24)], (3, 4)),
        ]

    risk = data.risk
    story.append(Paragraph(f"Risk: {risk.score:.1f} / 100 (0 is best)", st["h2"]))
    rrows: list[list[object]] = [["Factor", "Score", "Weight", "Detail", "Recommendation"]]
    for f in risk.factors:
        rrows.append(
            [
                f.name.replace("_", " "), "not scored" if f.score is None else f"{f.score:.1f}",
                f"{f.weight * 100:.0f}%",
                Paragraph(_esc(f.detail), st["cell"]), Paragraph(_esc(f.recommendation), st["cell"]),
            ]
        )  # fmt: skip
    w = WIDTH / 100
    story.append(_table(rrows, [w * x for x in (18, 8, 8, 33, 33)], (1, 2)))

    story.append(Paragraph("Transactions", st["h2"]))
    if data.transactions:
        trows: list[list[object]] = [["Date", "Type", "Wallets", "BTC", "Fee (sats)", "Price", "Value", "Txid"]]
        for t in data.transactions:
            kind = t.kind.lower() + ("" if t.confirmed else ", unconfirmed") + (f" ({t.label})" if t.label else "")
            trows.append(
                [
                    t.day.isoformat(), Paragraph(_esc(kind), st["cell"]),
                    Paragraph(_esc(t.wallets), st["cell"]), fmt_btc(t.sats),
                    f"{t.fee_sats:,}", fmt_money(t.price) + ("*" if t.price_estimated else ""),
                    fmt_money(t.fiat_value), t.txid[:10] + "…",
                ]
            )  # fmt: skip
        story.append(_table(trows, [w * x for x in (11, 10, 16, 13, 9, 12, 13, 16)], (3, 4, 5, 6)))
    else:
        story.append(Paragraph("No transactions in this period.", st["body"]))
    story.append(Spacer(1, 6))
    story.append(
        Paragraph(
            "Prices are daily closes (UTC); * marks an estimated close, n/a a figure that needs a price that does not "
            "exist. Figures are informational, not tax advice.",
            st["small"],
        )
    )

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=data.title,
        author="MyBitcoinFuture",
    )
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buf.getvalue()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
