"""Access tokens revoked alone: ``revoked_access_tokens``.

Revoking a derived access token (exchanged, or issued for a resource server's audience)
revokes that token, not its session. An opaque one is deleted from ``opaque_tokens``; a
JWT's ``jti`` goes here, kept until the token's own ``exp`` (the periodic purge removes
the row after that), and the service's own checks refuse it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_access_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double, nullable=False),
    )
    op.create_index("ix_revoked_access_tokens_expires_at", "revoked_access_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_revoked_access_tokens_expires_at", table_name="revoked_access_tokens")
    op.drop_table("revoked_access_tokens")
