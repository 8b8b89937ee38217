"""The credential that opened a session, so revoking it ends the session.

``sessions.credential`` holds ``fido2:<credential id>``, ``piv:<fingerprint>`` or
``otp:<serial>`` (``tokens.model.credential_ref``); NULL for sessions opened before
this revision or without a hardware credential. Indexed: a revocation looks it up.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases: no table copy.
    op.add_column("sessions", sa.Column("credential", sa.Text, nullable=True))
    op.create_index("ix_sessions_credential", "sessions", ["credential"])


def downgrade() -> None:
    op.drop_index("ix_sessions_credential", table_name="sessions")
    # SQLite 3.35+ and PostgreSQL both drop a column in place.
    op.drop_column("sessions", "credential")
