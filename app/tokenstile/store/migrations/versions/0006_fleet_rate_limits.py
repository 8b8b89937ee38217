"""Fleet mode: shared rate-limit counters (issue 8).

One row per bucket (a limit and the client address it counts), a fixed window each;
every replica counts into the same rows (``store/rate_limit.py``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("bucket", sa.String(160), primary_key=True),
        sa.Column("window_start", sa.Double, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_index("ix_rate_limits_window_start", "rate_limits", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_rate_limits_window_start", "rate_limits")
    op.drop_table("rate_limits")
