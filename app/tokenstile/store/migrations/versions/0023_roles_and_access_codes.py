"""Built-in roles and temporary access codes (issue 18).

Roles: ``user_roles`` (migration 0017) becomes where the built-in roles ``admin``,
``helpdesk`` and ``enroller`` live (``protocol.roles``). The upgrade gives every person
whose ``users.is_admin`` is set an ``admin`` row, and takes an ``admin`` row from anyone
whose flag is not set (before 0022 such a row was only a four-eyes label, and it must not
make its holder an administrator now). ``users.is_admin`` stays, kept equal to the
``admin`` role by the store (``store.roles``), so the downgrade sets it from the rows and
leaves them in place: nothing a downgrade could lose.

Temporary access codes: ``access_codes``, one row per code a helpdesk person issued; the
code itself is never stored, only its salted scrypt hash; ``uses_left`` counts down to
zero in one conditional UPDATE, so two sign-ins racing for the last use cannot both win.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_users = sa.table("users", sa.column("id", sa.Integer), sa.column("is_admin", sa.Boolean))
_roles = sa.table(
    "user_roles",
    sa.column("user_id", sa.Integer),
    sa.column("role", sa.String),
    sa.column("granted_at", sa.Double),
)


def upgrade() -> None:
    op.create_table(
        "access_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("code_hash", sa.String(256), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("uses", sa.Integer, nullable=False),
        sa.Column("uses_left", sa.Integer, nullable=False),
        sa.Column("issued_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", sa.Double, nullable=True),
        sa.CheckConstraint("uses_left >= 0 AND uses_left <= uses", name="uses_left_range"),
    )
    op.create_index("ix_access_codes_user_id", "access_codes", ["user_id"])
    conn = op.get_bind()
    flagged = sa.select(_users.c.id).where(_users.c.is_admin == sa.true())
    conn.execute(_roles.delete().where(_roles.c.role == "admin", _roles.c.user_id.not_in(flagged)))
    held = sa.select(_roles.c.user_id).where(_roles.c.role == "admin")
    conn.execute(
        _roles.insert().from_select(
            ["user_id", "role", "granted_at"],
            sa.select(_users.c.id, sa.literal("admin"), sa.literal(time.time())).where(
                _users.c.is_admin == sa.true(), _users.c.id.not_in(held)
            ),
        )
    )


def downgrade() -> None:
    conn = op.get_bind()
    admins = sa.select(_roles.c.user_id).where(_roles.c.role == "admin")
    conn.execute(sa.update(_users).values(is_admin=_users.c.id.in_(admins)))
    op.drop_index("ix_access_codes_user_id", table_name="access_codes")
    op.drop_table("access_codes")
