"""All tables, imported so ``SQLModel.metadata`` is complete for alembic and the drift test."""

from sqlmodel import SQLModel

from app.store.models import (
    accounts,  # noqa: F401
    chain,  # noqa: F401
    events,  # noqa: F401
    keystore,  # noqa: F401
    lightning,  # noqa: F401
    portfolios,  # noqa: F401
    spend,  # noqa: F401
    wallets,  # noqa: F401
)

metadata = SQLModel.metadata
