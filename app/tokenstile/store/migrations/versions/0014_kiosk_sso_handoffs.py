"""Kiosk single sign-on hand-offs in the database (issue 15), so that the three steps of a
hand-off (made, satisfied by the kiosk's broker, claimed by the browser) may land on
different replicas (``uvicorn --workers N``, or several servers on one PostgreSQL).

``kiosk_sso_handoffs``: each hand-off by the SHA-256 of its id, never the id, bound to
the hash of its browser's pre-session cookie, with the checked authorization request
(JSON), its end, and once satisfied the kiosk session and the hash of its ticket;
``claimed`` once used. The purge drops expired rows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_sso_handoffs",
        sa.Column("handoff_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("browser_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("sid", sa.String(64), sa.ForeignKey("sessions.sid"), nullable=True),
        sa.Column("ticket_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("claimed", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_kiosk_sso_handoffs_expires_at", "kiosk_sso_handoffs", ["expires_at"])
    op.create_index("ix_kiosk_sso_handoffs_sid", "kiosk_sso_handoffs", ["sid"])


def downgrade() -> None:
    op.drop_index("ix_kiosk_sso_handoffs_sid", table_name="kiosk_sso_handoffs")
    op.drop_index("ix_kiosk_sso_handoffs_expires_at", table_name="kiosk_sso_handoffs")
    op.drop_table("kiosk_sso_handoffs")
