"""Hand-made inline SVG charts (no external assets, no JavaScript)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from html import escape

FONT = "font-family='Helvetica, Arial, sans-serif' font-size='11' fill='#444'"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while True:
        ticks.append(round(v, 10))
        if v >= hi - step * 0.001:
            return ticks
        v += step


def _date_ticks(days: Sequence[date], n: int = 6) -> list[int]:
    if len(days) <= 1:
        return [0]
    k = min(n, len(days))
    return sorted({round(i * (len(days) - 1) / (k - 1)) for i in range(k)})


def _short_num(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e3:
        return f"{v / 1e3:.0f}k" if a >= 1e4 else f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def series_chart(
    days: Sequence[date],
    values: Sequence[float],
    *,
    width: int = 760,
    height: int = 240,
    color: str = "#f7931a",
    fill: str = "rgba(247,147,26,0.15)",
    y_format: Callable[[float], str] = _short_num,
    y_min: float | None = None,
    y_max: float | None = None,
    title: str = "",
) -> str:
    """A line chart with a filled area down to the baseline, date axis and value axis."""
    left, right, top, bottom = 64, 12, 24, 28
    pw, ph = width - left - right, height - top - bottom
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}'>"
    ]
    if title:
        out.append(f"<text x='{left}' y='14' {FONT} font-weight='bold'>{escape(title)}</text>")
    if not values:
        out.append(f"<text x='{width / 2}' y='{height / 2}' {FONT} text-anchor='middle'>No data</text>")
        return "".join(out) + "</svg>"
    lo = min(values) if y_min is None else y_min
    hi = max(values) if y_max is None else y_max
    ticks = nice_ticks(min(lo, 0.0) if y_min is None and lo > 0 else lo, hi)
    lo, hi = ticks[0], ticks[-1]
    span = hi - lo or 1.0
    n = len(values)

    def x(i: int) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph - (v - lo) / span * ph

    for t in ticks:
        out.append(
            f"<line x1='{left}' x2='{left + pw}' y1='{y(t):.1f}' y2='{y(t):.1f}' stroke='#e5e5e5'/>"
            f"<text x='{left - 6}' y='{y(t) + 4:.1f}' {FONT} text-anchor='end'>{escape(y_format(t))}</text>"
        )
    for i in _date_ticks(days):
        anchor = "end" if i == n - 1 and n > 1 else ("start" if i == 0 else "middle")
        out.append(f"<text x='{x(i):.1f}' y='{height - 8}' {FONT} text-anchor='{anchor}'>{days[i].isoformat()}</text>")
    pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    base = y(max(lo, min(0.0, hi)))
    out.append(f"<polygon points='{x(0):.1f},{base:.1f} {pts} {x(n - 1):.1f},{base:.1f}' fill='{fill}'/>")
    out.append(f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='1.5'/>")
    out.append(
        f"<line x1='{left}' x2='{left}' y1='{top}' y2='{top + ph}' stroke='#999'/>"
        f"<line x1='{left}' x2='{left + pw}' y1='{top + ph}' y2='{top + ph}' stroke='#999'/>"
    )
    return "".join(out) + "</svg>"


def bar_chart(labels: Sequence[str], shares: Sequence[float], captions: Sequence[str], *, width: int = 760) -> str:
    """Horizontal bars (share 0..1) with a label on the left and a caption on the right."""
    row = 26
    height = 16 + row * max(1, len(labels))
    left, right = 180, 230
    pw = width - left - right
    palette = ["#f7931a", "#4a6fa5", "#6a9f58", "#b55d9c", "#d1a23b", "#5aa3a8", "#a05a3c"]
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='Allocation by wallet'>"
    ]
    if not labels:
        out.append(f"<text x='10' y='20' {FONT}>No wallets</text>")
    for i, (label, share, cap) in enumerate(zip(labels, shares, captions, strict=True)):
        yy = 8 + i * row
        w = max(1.0, pw * max(0.0, min(1.0, share)))
        name = label if len(label) <= 28 else label[:27] + "…"
        out.append(
            f"<text x='{left - 8}' y='{yy + 14}' {FONT} text-anchor='end'>{escape(name)}</text>"
            f"<rect x='{left}' y='{yy}' width='{w:.1f}' height='18' fill='{palette[i % len(palette)]}'/>"
            f"<text x='{left + w + 6:.1f}' y='{yy + 14}' {FONT}>{escape(cap)}</text>"
        )
    return "".join(out) + "</svg>"
