"""Offline sign-in's evidence, spent once (issue 17).

A kiosk that signed someone in while the service was out of reach brings the key's or
card's signed answer when the link returns, to exchange it for a real session. Each
answer is good for one session: ``offline_evidence`` holds the SHA-256 of every one
exchanged (the key's client data or the card's challenge), with the kiosk client that
brought it, the factor, when it was signed (the time the kiosk put in its challenge) and
when it was spent; a second exchange of the same answer fails on the primary key, on
every replica. The purge drops rows past ``keep_until`` (when the answer is too old to
be exchanged anyway).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offline_evidence",
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("factor", sa.String(16), nullable=False),
        sa.Column("signed_at", sa.Double, nullable=False),
        sa.Column("spent_at", sa.Double, nullable=False),
        sa.Column("keep_until", sa.Double, nullable=False),
    )
    op.create_index("ix_offline_evidence_keep_until", "offline_evidence", ["keep_until"])


def downgrade() -> None:
    op.drop_index("ix_offline_evidence_keep_until", table_name="offline_evidence")
    op.drop_table("offline_evidence")
