"""The audit log: an append-only trail of security-relevant events, never holding secrets.

Services add an entry with :func:`record` inside their own write transaction (one line at the
service point), so the entry commits if and only if the change does. Reading is owner-scoped;
admins may read everyone's entries. The table refuses UPDATE and DELETE (database triggers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Forbidden
from app.store.db import Store
from app.store.models.accounts import AuditEntry
from app.store.paging import Page, beyond_condition, keyset, page_of, window

_MAX_DETAIL = 500


def record(
    s: AsyncSession,
    action: str,
    user_id: str | None,
    subject: str | None = None,
    *,
    ip: str | None = None,
    detail: str | None = None,
) -> None:
    """Add one entry to the open transaction ``s``. ``detail`` is a short non-secret note."""
    s.add(
        AuditEntry(
            user_id=user_id,
            action=action,
            subject=(subject or None) and subject[:128],
            ip=(ip or None) and ip[:64],
            detail=(detail or None) and detail[:_MAX_DETAIL],
        )
    )


@dataclass(frozen=True, slots=True)
class AuditView:
    id: str
    user_id: str | None
    action: str
    subject: str | None
    ip: str | None
    detail: str | None
    created_at: datetime


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(
        self,
        action: str,
        user_id: str | None,
        subject: str | None = None,
        *,
        ip: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Record an entry in its own transaction (for events that change no other row, e.g. a failed login)."""
        async with self.store.write() as s:
            record(s, action, user_id, subject, ip=ip, detail=detail)

    async def entries(
        self,
        user_id: str,
        *,
        is_admin: bool,
        all_users: bool = False,
        action: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[AuditView]:
        """Newest first. ``all_users`` (admins only) lists every account's entries."""
        if all_users and not is_admin:
            raise Forbidden("Only an admin can read every account's audit log.", field="allUsers")
        w = window(first, after, last, before, types=(str,))
        where: list[sa.ColumnElement[bool]] = []
        if not all_users:
            where.append(col(AuditEntry.user_id) == user_id)
        if action:
            where.append(col(AuditEntry.action) == action)
        order = [(col(AuditEntry.id), True)]
        between, by = keyset(order, w)
        async with self.store.read() as s:
            q = select(AuditEntry).where(*where, *between).order_by(*by).limit(w.size + 1)
            rows = list((await s.exec(q)).all())
            total = (await s.exec(select(func.count()).select_from(AuditEntry).where(*where))).one()
            outside = beyond_condition(order, w)
            beyond = outside is not None and (await s.exec(select(sa.exists().where(*where, outside)))).one()
        return page_of(rows, w, int(total), lambda r: [r.id], beyond=bool(beyond)).map(
            lambda r: AuditView(r.id, r.user_id, r.action, r.subject, r.ip, r.detail, r.created_at)
        )
