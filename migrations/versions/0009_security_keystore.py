"""Key store (key-check canary, blind-index key) and encrypted xpub label refs.

Existing xpub labels are encrypted at the next start (app/security/keystore.py), which has the key.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_security_keystore"
down_revision: str | Sequence[str] | None = "0008_accounts_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_store",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value_enc", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("wallet_labels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ref_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wallet_labels", schema=None) as batch_op:
        batch_op.drop_column("ref_enc")
    op.drop_table("key_store")
