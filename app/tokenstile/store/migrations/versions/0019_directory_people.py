"""People who come from a directory (issue 18): ``users.directory`` names the LDAP/AD
directory or SCIM client that manages a person, or is empty for a person an admin added
by hand. The fields a directory owns cannot be edited locally while it manages them,
and a person who leaves the directory is disabled, never deleted (their audit stays).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD/DROP COLUMN: a batch copy of ``users`` would trip every foreign key
    # that points at it on SQLite.
    op.add_column("users", sa.Column("directory", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "directory")
