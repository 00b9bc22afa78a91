"""Merge the three heads left by areas built side by side (events, lightning, portfolios) into one line.

From here on the history is linear: every new migration names the single head as its ``down_revision``
(``tests/foundation/test_migrations.py`` fails on a second head).
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_merge_heads"
down_revision: str | Sequence[str] | None = ("0004_events", "0005_lightning", "0006_portfolios")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: the merge only joins the branches."""


def downgrade() -> None:
    """Nothing to change: downgrading splits the branches again."""
