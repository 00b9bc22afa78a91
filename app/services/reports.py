"""Reports: a background job per request (progress events), files under ``data_dir/reports/<user>/``,
listed by ``reports`` and downloaded at ``GET /reports/{id}/download`` with the same bearer token.

Progress is published as ``reportProgress`` events (``subject`` = report id) on the viewer's topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog

from app.analytics.periods import TIMEFRAMES, PeriodInput, resolve_period
from app.config import Settings
from app.errors import BadInput, DomainError, NotFound, RateLimited
from app.events.envelope import Event
from app.events.hub import EventHub
from app.ids import new_id
from app.reports.builder import build_report_data
from app.reports.csv import render_csv
from app.reports.json import render_json
from app.services import audit
from app.services.accounts import AccountService
from app.services.portfolios import PortfolioService
from app.store.db import Store, background_context
from app.store.models.portfolios import (
    REPORT_FAILED,
    REPORT_QUEUED,
    REPORT_RUNNING,
    REPORT_SUCCEEDED,
    Report,
)

log = structlog.get_logger(__name__)

REPORTS: sa.Table = Report.__table__  # type: ignore[attr-defined]
MAX_RUNNING_PER_USER = 3
FORMATS = {
    "CSV": ("zip", "application/zip"),  # one CSV file per table, in a zip named <portfolio>-<period>-csv.zip
    "JSON": ("json", "application/json"),
    "HTML": ("html", "text/html; charset=utf-8"),
    "PDF": ("pdf", "application/pdf"),
}


@dataclass(frozen=True)
class ReportView:
    id: str
    portfolio_id: str | None
    timeframe: str
    format: str
    status: str
    progress: float
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    period_label: str | None = None
    period_from: date | None = None  # the period's first day (None for a trailing timeframe)
    period_to: date | None = None

    @property
    def download_url(self) -> str | None:
        return f"/reports/{self.id}/download" if self.status == REPORT_SUCCEEDED else None


def _view(r: Any) -> ReportView:
    return ReportView(
        r.id, r.portfolio_id, r.timeframe, r.format, r.status, float(r.progress), r.error, r.created_at, r.finished_at,
        r.period_label, r.period_from, r.period_to,
    )  # fmt: skip


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or "portfolio"


def download_name(portfolio_name: str, period_label: str, fmt: str) -> str:
    """``<portfolio>-<period>.<ext>``; CSV tables come as ``<portfolio>-<period>-csv.zip``."""
    base = f"{_slug(portfolio_name)}-{_slug(period_label)}"
    return f"{base}-csv.zip" if fmt == "CSV" else f"{base}.{FORMATS[fmt][0]}"


class ReportService:
    def __init__(
        self,
        store: Store,
        hub: EventHub,
        portfolios: PortfolioService,
        settings: Settings,
        *,
        accounts: AccountService,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.hub = hub
        self.portfolios = portfolios
        self.settings = settings
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._owners: dict[str, str] = {}  # running report id -> user id

    @property
    def root(self) -> Path:
        return Path(self.settings.data_dir) / "reports"

    async def start(self) -> None:
        # Jobs cut short by a restart are marked failed (the user can generate again).
        async with self.store.write() as s:
            await (await s.connection()).execute(
                sa.update(REPORTS)
                .where(REPORTS.c.status.in_([REPORT_QUEUED, REPORT_RUNNING]))
                .values(status=REPORT_FAILED, error="interrupted by a server restart", finished_at=datetime.now(UTC))
            )

    async def stop(self) -> None:
        for t in list(self._tasks.values()):
            t.cancel()
        for t in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "running": len(self._tasks)}

    async def generate(
        self,
        user_id: str,
        portfolio_id: str,
        timeframe: str,
        fmt: str,
        period: PeriodInput | None = None,
        method: str = "FIFO",
    ) -> ReportView:
        """Check the request (nothing is written for a bad one), record the job and start it."""
        fmt = fmt.upper()
        if fmt not in FORMATS:
            raise BadInput(f"Unknown report format {fmt!r}.", field="format", hint="CSV, JSON, HTML or PDF")
        tf = timeframe.upper()
        if tf not in TIMEFRAMES:
            raise BadInput(f"Unknown timeframe {timeframe!r}.", field="timeframe", hint=", ".join(TIMEFRAMES))
        if method.upper() not in ("FIFO", "LIFO", "HIFO", "AVERAGE"):
            raise BadInput(f"Unknown cost basis method {method!r}.", field="method", hint="FIFO, LIFO, HIFO or AVERAGE")
        await self.portfolios.get(user_id, portfolio_id)  # NotFound for unknown / others' ids
        label, first, last = tf, None, None
        if period is not None:
            tax = await self.portfolios.tax_settings(user_id)
            data = await self.portfolios.load(user_id, portfolio_id)
            per = resolve_period(period, datetime.now(UTC).date(), data.first_day, tax.fiscal_year_start, "period")
            label, first, last = per.label, per.first, per.requested_end or per.end
        running = sum(1 for owner in self._owners.values() if owner == user_id)
        if running >= MAX_RUNNING_PER_USER:
            raise RateLimited(
                f"{running} reports are still being generated.", hint="Wait for one to finish, then try again."
            )
        rid = new_id()
        now = datetime.now(UTC)
        async with self.store.write() as s:
            await (await s.connection()).execute(
                sa.insert(REPORTS).values(
                    id=rid,
                    user_id=user_id,
                    portfolio_id=None if portfolio_id == "all" else portfolio_id,
                    timeframe=tf if period is None else "PERIOD",
                    format=fmt,
                    status=REPORT_QUEUED,
                    progress=0.0,
                    created_at=now,
                    period_label=label,
                    period_from=first,
                    period_to=last,
                )
            )
            audit.record(s, "report.generated", user_id, rid, detail=f"format={fmt} period={label}")
        self._owners[rid] = user_id
        self._tasks[rid] = asyncio.create_task(
            self._run(rid, user_id, portfolio_id, tf, fmt, period, method.upper()),
            name=f"report-{rid}",
            context=background_context(),
        )
        self._tasks[rid].add_done_callback(lambda _t, r=rid: self._forget(r))  # type: ignore[misc]
        return await self.get(user_id, rid)

    def _forget(self, report_id: str) -> None:
        self._tasks.pop(report_id, None)
        self._owners.pop(report_id, None)

    async def wait(self, report_id: str) -> None:
        """Wait for a running job (tests, CLI)."""
        task = self._tasks.get(report_id)
        if task is not None:
            with contextlib.suppress(Exception):
                await task

    async def _progress(self, rid: str, user_id: str, status: str, progress: float, **extra: Any) -> None:
        values: dict[str, Any] = {"status": status, "progress": progress, **extra}
        async with self.store.write() as s:
            await (await s.connection()).execute(sa.update(REPORTS).where(REPORTS.c.id == rid).values(**values))
        await self.hub.publish(
            Event(
                type="reportProgress",
                user_id=user_id,
                subject=rid,
                payload={"reportId": rid, "status": status, "progress": progress, "error": extra.get("error")},
            )
        )

    async def _run(
        self,
        rid: str,
        user_id: str,
        portfolio_id: str,
        tf: str,
        fmt: str,
        period: PeriodInput | None = None,
        method: str = "FIFO",
    ) -> None:
        try:
            await self._progress(rid, user_id, REPORT_RUNNING, 0.05)
            data = await self.portfolios.load(user_id, portfolio_id)
            await self._progress(rid, user_id, REPORT_RUNNING, 0.2)
            analysis = await self.portfolios.analyse(user_id, portfolio_id, tf, method, data=data, period=period)
            await self._progress(rid, user_id, REPORT_RUNNING, 0.6)
            owner = await self._owner_email(user_id)
            report = build_report_data(
                title="Bitcoin portfolio report",
                portfolio_name=data.view.name,
                owner=owner,
                currency=analysis.currency,
                timeframe=analysis.timeframe,
                start=analysis.start,
                end=analysis.end,
                generated_at=datetime.now(UTC),
                spot=analysis.spot,
                analytics=analysis.result,
                prices=analysis.prices,  # one price table for the whole report
                wallet_names={w.id: w.name for w in data.wallets},
                labels=data.labels,
                period_label=analysis.period.label,
                multisig={w.id: w.kind.upper() == "MULTISIG" for w in data.wallets},
                fiscal_year_start=analysis.tax.fiscal_year_start,
                tax_year=analysis.period.tax_year,
            )
            skip = ("estimated from the nearest", "have no recorded")
            report.notes[:0] = [n for n in analysis.notes if n not in report.notes and not any(k in n for k in skip)]
            body = await asyncio.to_thread(_render, fmt, report)
            await self._progress(rid, user_id, REPORT_RUNNING, 0.9)
            ext = FORMATS[fmt][0]
            folder = self.root / user_id
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{rid}.{ext}"
            tmp = path.with_suffix(".part")
            await asyncio.to_thread(tmp.write_bytes, body)
            tmp.replace(path)
            await self._progress(
                rid,
                user_id,
                REPORT_SUCCEEDED,
                1.0,
                path=str(path.relative_to(self.root)),
                finished_at=datetime.now(UTC),
            )
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._progress(
                    rid, user_id, REPORT_FAILED, 0.0, error="cancelled (server stopping)", finished_at=datetime.now(UTC)
                )
            raise
        except Exception as exc:
            msg = exc.message if isinstance(exc, DomainError) else "The report could not be generated."
            if not isinstance(exc, DomainError):
                log.exception("report_failed", report_id=rid)
            await self._progress(rid, user_id, REPORT_FAILED, 0.0, error=msg, finished_at=datetime.now(UTC))

    async def _portfolio_name(self, user_id: str, portfolio_id: str | None) -> str:
        try:
            return (await self.portfolios.get(user_id, portfolio_id or "all")).name
        except NotFound:  # deleted since: the report stays downloadable
            return "portfolio"

    async def _owner_email(self, user_id: str) -> str:
        try:
            return (await self.accounts.get_user(user_id)).email
        except NotFound:
            return ""

    async def get(self, user_id: str, report_id: str) -> ReportView:
        async with self.store.read() as s:
            r = (
                await (await s.connection()).execute(
                    sa.select(REPORTS).where(REPORTS.c.id == report_id, REPORTS.c.user_id == user_id)
                )
            ).first()
        if r is None:
            raise NotFound("No report with this id.", field="id")
        return _view(r)

    async def list_reports(self, user_id: str) -> list[ReportView]:
        async with self.store.read() as s:
            rows = (
                await (await s.connection()).execute(
                    sa.select(REPORTS).where(REPORTS.c.user_id == user_id).order_by(REPORTS.c.created_at.desc())
                )
            ).all()
        return [_view(r) for r in rows]

    async def file(self, user_id: str, report_id: str) -> tuple[Path, str, str]:
        """(path, media type, download file name) of a finished report of the user's."""
        async with self.store.read() as s:
            r = (
                await (await s.connection()).execute(
                    sa.select(REPORTS).where(REPORTS.c.id == report_id, REPORTS.c.user_id == user_id)
                )
            ).first()
        if r is None or r.status != REPORT_SUCCEEDED or not r.path:
            raise NotFound("No finished report with this id.", field="id")
        path = (self.root / r.path).resolve()
        if self.root.resolve() not in path.parents or not path.is_file():
            raise NotFound("The report file is gone; generate it again.", field="id")
        _ext, media = FORMATS[r.format]
        name = download_name(
            await self._portfolio_name(user_id, r.portfolio_id), r.period_label or r.timeframe, r.format
        )
        await audit.AuditLog(self.store).add("report.downloaded", user_id, report_id, detail=f"format={r.format}")
        return path, media, name


def _render(fmt: str, report: Any) -> bytes:
    if fmt == "CSV":
        return render_csv(report)
    if fmt == "JSON":
        return render_json(report)
    if fmt == "HTML":
        from app.reports.html import render_html

        return render_html(report)
    from app.reports.pdf import render_pdf

    return render_pdf(report)
