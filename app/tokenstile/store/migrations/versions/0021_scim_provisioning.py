"""SCIM 2.0 inbound provisioning (issue 18, RFC 7643/7644).

- ``scim_tokens``: the bearer tokens of SCIM clients, by name, stored as SHA-256 hashes
  (the token is shown once, at ``manage scim token create``); a revoked token keeps its
  row and its name, so no new token can take over the people the old one managed.
- ``scim_users``: the SCIM side of a person a SCIM client created (``users.directory`` is
  ``scim:<token name>``): the resource id, ``externalId``, the attributes Tokenstile keeps
  but does not use (``name``, ``emails`` ... as JSON) and a version for ETags.
- ``scim_groups`` and ``scim_group_members``: a client's groups; a group whose name is a
  role the client may grant gives its members that role.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scim_tokens",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("roles", sa.Text, nullable=False, server_default="[]"),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double, nullable=True),
    )
    op.create_table(
        "scim_users",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("scim_id", sa.String(64), nullable=False, unique=True),
        sa.Column("external_id", sa.String(256), nullable=True),
        sa.Column("profile", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "scim_groups",
        sa.Column("scim_id", sa.String(64), primary_key=True),
        sa.Column("directory", sa.String(64), nullable=False, index=True),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("external_id", sa.String(256), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "scim_group_members",
        sa.Column(
            "group_id", sa.String(64), sa.ForeignKey("scim_groups.scim_id"), primary_key=True
        ),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("scim_group_members")
    op.drop_table("scim_groups")
    op.drop_table("scim_users")
    op.drop_table("scim_tokens")
