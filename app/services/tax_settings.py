"""Per-user tax settings (portfolios area): the fiscal-year start that names tax years, the
holding time after which a gain is long term, and how network fees are treated.

Defaults when a user never set them: calendar year (01-01), 12 months, fees disposed of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from app.analytics.costbasis import LONG_TERM_MONTHS, FeeTreatment
from app.analytics.gains import CALENDAR_YEAR, FiscalStart
from app.analytics.periods import parse_fiscal_start
from app.errors import BadInput
from app.store.db import Store
from app.store.models.portfolios import TaxSettingsRow

TAX: sa.Table = TaxSettingsRow.__table__  # type: ignore[attr-defined]
MAX_LONG_TERM_MONTHS = 1200


@dataclass(frozen=True)
class TaxSettings:
    fiscal_year_start: FiscalStart = CALENDAR_YEAR
    long_term_months: int = LONG_TERM_MONTHS
    fee_treatment: FeeTreatment = FeeTreatment.DISPOSE

    @property
    def fiscal_year_start_text(self) -> str:
        return f"{self.fiscal_year_start[0]:02d}-{self.fiscal_year_start[1]:02d}"


async def load_tax_settings(store: Store, user_id: str) -> TaxSettings:
    async with store.read() as s:
        row = (await (await s.connection()).execute(sa.select(TAX).where(TAX.c.user_id == user_id))).first()
    if row is None:
        return TaxSettings()
    return TaxSettings(
        parse_fiscal_start(row.fiscal_year_start), int(row.long_term_months), FeeTreatment(row.fee_treatment)
    )


async def save_tax_settings(
    store: Store,
    user_id: str,
    fiscal_year_start: str | None = None,
    long_term_months: int | None = None,
    fee_treatment: str | None = None,
) -> TaxSettings:
    """Change the given settings (the others stay); bad values are ``BadInput`` and nothing is written."""
    current = await load_tax_settings(store, user_id)
    fy = parse_fiscal_start(fiscal_year_start) if fiscal_year_start is not None else current.fiscal_year_start
    months = current.long_term_months if long_term_months is None else long_term_months
    if not 0 <= months <= MAX_LONG_TERM_MONTHS:
        raise BadInput(
            f"The long-term threshold is 0 to {MAX_LONG_TERM_MONTHS} months.",
            field="longTermMonths",
            hint="12 (one year) in the US and Germany.",
        )
    fees = current.fee_treatment
    if fee_treatment is not None:
        try:
            fees = FeeTreatment(fee_treatment.upper())
        except ValueError:
            raise BadInput(
                f"Unknown fee treatment {fee_treatment!r}.", field="feeTreatment", hint="DISPOSE or ADD_TO_COST"
            ) from None
    new = TaxSettings(fy, months, fees)
    values = {
        "fiscal_year_start": new.fiscal_year_start_text,
        "long_term_months": months,
        "fee_treatment": fees.value,
        "updated_at": datetime.now(UTC),
    }
    async with store.write() as s:
        conn = await s.connection()
        await conn.execute(sa.delete(TAX).where(TAX.c.user_id == user_id))
        await conn.execute(sa.insert(TAX).values(user_id=user_id, **values))
    return new
