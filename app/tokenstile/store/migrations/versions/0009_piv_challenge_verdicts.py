"""PIV login challenges for every certificate: nobody learns who is enrolled (issue 13).

``/login/piv/challenge`` now hands a challenge to every well-formed certificate, enrolled
or not, and refuses at ``/login/piv``. A challenge row therefore may name nobody
(``user_id`` NULL) and carries the first step's verdict in ``refusal`` (NULL: accepted).
The per-certificate cap is gone, so its ``fingerprint`` index goes too.

Challenges live two minutes: the table is rebuilt empty rather than altered (SQLite
cannot make a column nullable in place); a login in flight during the upgrade asks for a
new challenge.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _create(*, nullable_user: bool, refusal: bool) -> None:
    columns: list[sa.Column[object]] = [
        sa.Column("handle_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("challenge", sa.LargeBinary(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("card_id", sa.Integer, sa.ForeignKey("piv_cards.id"), nullable=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=nullable_user),
        sa.Column("certificate", sa.LargeBinary, nullable=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        # Set once, by the one request that claims the challenge.
        sa.Column("used_at", sa.Double, nullable=True),
    ]
    if refusal:
        columns.append(sa.Column("refusal", sa.String(32), nullable=True))
    op.create_table("piv_challenges", *columns)
    op.create_index("ix_piv_challenges_expires_at", "piv_challenges", ["expires_at"])


def upgrade() -> None:
    op.drop_table("piv_challenges")
    _create(nullable_user=True, refusal=True)


def downgrade() -> None:
    op.drop_table("piv_challenges")
    _create(nullable_user=False, refusal=False)
    op.create_index("ix_piv_challenges_fingerprint", "piv_challenges", ["fingerprint"])
