"""DPoP key binding and token exchange: clients.dpop_bound, sessions.dpop_jkt, dpop_replay.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases: no table copy, existing rows keep
    # working (existing clients are not DPoP-bound, existing sessions are unbound).
    op.add_column(
        "clients",
        sa.Column("dpop_bound", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("sessions", sa.Column("dpop_jkt", sa.String(64), nullable=True))
    op.create_table(
        "dpop_replay",
        sa.Column("key_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_dpop_replay_expires_at", "dpop_replay", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_dpop_replay_expires_at", table_name="dpop_replay")
    op.drop_table("dpop_replay")
    # SQLite 3.35+ and PostgreSQL both drop a column in place.
    op.drop_column("sessions", "dpop_jkt")
    op.drop_column("clients", "dpop_bound")
