"""OTP credentials (TOTP/HOTP fobs and authenticator apps) and per-person failure counts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "otp_credentials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("serial", sa.String(128), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("label", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=False),
        sa.Column("digits", sa.Integer, nullable=False),
        sa.Column("period", sa.Integer, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sealed_seed", sa.LargeBinary, nullable=False),
        # The last accepted time step or HOTP counter: compared by the conditional UPDATE
        # that makes a code single-use, and an HOTP counter may use all 63 bits.
        sa.Column("last_used", sa.BigInteger, nullable=False),
        sa.Column("drift", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.Double, nullable=True),
        sa.Column("last_used_at", sa.Double, nullable=True),
        sa.Column("not_before", sa.Double, nullable=True),
        sa.Column("not_after", sa.Double, nullable=True),
        sa.Column("manufacturer", sa.String(256), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("issuer", sa.String(256), nullable=True),
        sa.Column("key_id", sa.String(256), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("enrolled_by", sa.String(256), nullable=True),
        sa.Column("state_changed_at", sa.Double, nullable=True),
        sa.CheckConstraint("kind IN ('totp', 'hotp')", name="kind"),
        sa.CheckConstraint("state IN ('pending', 'active', 'locked', 'revoked')", name="state"),
    )
    op.create_index("ix_otp_credentials_user_id", "otp_credentials", ["user_id"])
    op.create_table(
        "otp_user_failures",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.Double, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("otp_user_failures")
    op.drop_index("ix_otp_credentials_user_id", table_name="otp_credentials")
    op.drop_table("otp_credentials")
