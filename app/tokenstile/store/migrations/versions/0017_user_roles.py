"""A person's roles (issue 17, the four-eyes confirm): ``user_roles``, one row per person
and role name, given and taken by ``tokenstile manage user role``. A four-eyes confirm
asks for a second person who holds a role.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("role", sa.String(64), primary_key=True),
        sa.Column("granted_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("user_roles")
