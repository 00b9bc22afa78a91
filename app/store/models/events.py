"""The replay log of the in-process event hub (``events(after:)`` resumes from it).

Bounded per user by count and age (``MBF_EVENT_RETENTION_COUNT``/``_HOURS``), pruned by the hub.
``seq`` is the log order (ids are time-sortable but not strictly monotonic within a millisecond).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.store.models.base import UTCDateTime

SEQ_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class EventRecord(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_user_seq", "user_id", "seq"),
        {"sqlite_autoincrement": True},
    )

    seq: int | None = Field(
        default=None, sa_column=sa.Column(SEQ_TYPE, primary_key=True, autoincrement=True)
    )
    id: str = Field(sa_column=sa.Column(sa.String(26), nullable=False, unique=True))
    user_id: str = Field(
        sa_column=sa.Column(
            sa.String(26), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        )
    )
    type: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    occurred_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
