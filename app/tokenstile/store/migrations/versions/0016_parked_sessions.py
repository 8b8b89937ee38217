"""Parked sessions (issue 17): a kiosk's "switch user" may park the person instead of
signing them out; the service then refuses the session's refresh and token exchange until
the same person signs in again at that kiosk (``tokens.parking``).

``sessions.parked_at`` and ``sessions.parked_until`` (NULL while in use): when the session
was parked and the deadline after which it is revoked, lazily on any use and by the
periodic purge (which looks parked sessions up by ``ix_sessions_parked_until``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases: no copy of a table that others'
    # foreign keys point at.
    op.add_column("sessions", sa.Column("parked_at", sa.Double, nullable=True))
    op.add_column("sessions", sa.Column("parked_until", sa.Double, nullable=True))
    op.create_index("ix_sessions_parked_until", "sessions", ["parked_until"])


def downgrade() -> None:
    op.drop_index("ix_sessions_parked_until", table_name="sessions")
    # SQLite 3.35+ and PostgreSQL both drop a column in place.
    op.drop_column("sessions", "parked_until")
    op.drop_column("sessions", "parked_at")
