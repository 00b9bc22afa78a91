"""HTML: one self-contained file (inline CSS and SVG charts, no external assets) via jinja2."""

from __future__ import annotations

from importlib import resources

import jinja2

from app.analytics.gains import fee_lines
from app.reports import svg
from app.reports.data import (
    ReportData,
    chart_allocation,
    fmt_btc,
    fmt_date,
    fmt_money,
    fmt_pct,
    performance_rows,
    summary_rows,
)


def _template() -> jinja2.Template:
    text = resources.files("app.reports").joinpath("templates/report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(btc=fmt_btc, money=fmt_money, pct=fmt_pct, d=fmt_date)
    return env.from_string(text)


def charts(data: ReportData) -> dict[str, str]:
    days, values, drawdowns = data.series
    cur = data.currency
    alloc = chart_allocation(data)
    return {
        "value": svg.series_chart(days, values, title=f"Portfolio value ({cur})"),
        "drawdown": svg.series_chart(
            days,
            drawdowns,
            color="#c0392b",
            fill="rgba(192,57,43,0.18)",
            y_format=lambda v: f"{v * 100:.0f}%" if round(v * 100) else "0%",
            y_max=0.0,
            title="Drawdown from the previous peak (flows neutralised)",
        ),
        "allocation": svg.bar_chart(
            [a.wallet for a in alloc],
            [a.share for a in alloc],
            [f"{a.share * 100:.1f}%  {fmt_btc(a.sats)} BTC" for a in alloc],
        ),
    }


def render_html(data: ReportData) -> bytes:
    html = _template().render(
        r=data,
        summary=summary_rows(data),
        performance=performance_rows(data),
        charts=charts(data),
        cb=data.cost_basis,
        risk=data.risk,
        gains=data.gains_summary,
        disposals=[d for d in data.period_disposals if d.kind != "FEE"],
        fees=fee_lines(data.period_disposals, data.fiscal_year_start),
    )
    return html.encode("utf-8")
