"""LDAP / Active Directory directories that Tokenstile syncs people from (issue 18):
``directories``, one row per directory ``tokenstile manage directory add`` configured.

A row holds where and how to read the directory, the path of the file that holds its
bind password (never the password), the last sync's time, counts and error, and the sync
lease (``lease``, ``lease_until``): a replica syncs a directory only while it holds the
lease, taken by one conditional UPDATE, so two replicas never sync one directory at once.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directories",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("bind_dn", sa.Text, nullable=False),
        sa.Column("password_file", sa.Text, nullable=False),
        sa.Column("base_dn", sa.Text, nullable=False),
        sa.Column("search_filter", sa.Text, nullable=False),
        sa.Column("group_dn", sa.Text, nullable=True),
        sa.Column("admin_group_dn", sa.Text, nullable=True),
        sa.Column("attribute_map", sa.Text, nullable=False),
        sa.Column("ca_file", sa.Text, nullable=True),
        sa.Column("starttls", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_sync_at", sa.Double, nullable=True),
        sa.Column("last_result", sa.Text, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("lease", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.Double, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("directories")
