"""Kiosk groups and shift grants: tap-and-go (issue 17).

``kiosk_groups``: a named group of kiosks and its shift length (``shift_hours``, 0 = tap
and go off). ``kiosk_group_members``: which group a kiosk client belongs to (at most one;
a table of its own so the ``clients`` table and every reader of it stay as they are).
``shift_grants``: one row per person and group, made or renewed by a full sign-in at a
kiosk of the group: the credential used, the session it opened, the end of the shift,
and once ended early, when and why. A tap is accepted only inside a live one.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_groups",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("shift_hours", sa.Double, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.CheckConstraint("shift_hours >= 0 AND shift_hours <= 24", name="shift_hours"),
    )
    op.create_table(
        "kiosk_group_members",
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id"), primary_key=True),
        sa.Column("kiosk_group", sa.String(64), sa.ForeignKey("kiosk_groups.name"), nullable=False),
    )
    op.create_index("ix_kiosk_group_members_kiosk_group", "kiosk_group_members", ["kiosk_group"])
    op.create_table(
        "shift_grants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kiosk_group", sa.String(64), sa.ForeignKey("kiosk_groups.name"), nullable=False),
        sa.Column("credential", sa.Text, nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double, nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.UniqueConstraint("user_id", "kiosk_group", name="uq_shift_grants_user_id"),
    )
    op.create_index("ix_shift_grants_kiosk_group", "shift_grants", ["kiosk_group"])
    op.create_index("ix_shift_grants_credential", "shift_grants", ["credential"])


def downgrade() -> None:
    op.drop_index("ix_shift_grants_credential", table_name="shift_grants")
    op.drop_index("ix_shift_grants_kiosk_group", table_name="shift_grants")
    op.drop_table("shift_grants")
    op.drop_index("ix_kiosk_group_members_kiosk_group", table_name="kiosk_group_members")
    op.drop_table("kiosk_group_members")
    op.drop_table("kiosk_groups")
