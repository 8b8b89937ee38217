"""Sign-out everywhere (issue 15, slice B): RP-initiated and back-channel logout.

``clients.post_logout_redirect_uris``: where ``/logout`` may send a browser back after
sign-out (a JSON list; exact match). ``clients.backchannel_logout_uri``: where the
service POSTs a web client's logout tokens. ``backchannel_logouts``: the delivery
queue, one row per (ended app session, client), claimed by one replica at a time
(``lease_until``), retried with backoff until delivered or failed.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column("post_logout_redirect_uris", sa.Text, nullable=False, server_default="[]")
        )
        batch.add_column(sa.Column("backchannel_logout_uri", sa.Text, nullable=True))
    op.create_table(
        "backchannel_logouts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("jti", sa.String(64), nullable=False, unique=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("app_sid", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("next_attempt_at", sa.Double, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("finished_at", sa.Double, nullable=True),
    )
    op.create_index(
        "ix_backchannel_logouts_due", "backchannel_logouts", ["state", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_backchannel_logouts_due", table_name="backchannel_logouts")
    op.drop_table("backchannel_logouts")
    # SQLite 3.35+ and PostgreSQL both drop a column in place.
    op.drop_column("clients", "backchannel_logout_uri")
    op.drop_column("clients", "post_logout_redirect_uris")
