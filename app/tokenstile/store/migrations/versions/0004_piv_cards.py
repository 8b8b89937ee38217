"""PIV smart cards: enrolled cards, login challenges, issuing CAs and trust anchors.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "piv_cards",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
        sa.Column("cert_serial", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("not_before", sa.Double, nullable=False),
        sa.Column("not_after", sa.Double, nullable=False),
        sa.Column("key_algorithm", sa.String(16), nullable=False),
        sa.Column("upn", sa.String(256), nullable=True),
        sa.Column("card_guid", sa.String(64), nullable=True),
        sa.Column("label", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("enrolled_by", sa.String(256), nullable=True),
        sa.Column("last_used_at", sa.Double, nullable=True),
        sa.Column("revoked_at", sa.Double, nullable=True),
        sa.Column("revoked_by", sa.String(256), nullable=True),
        sa.CheckConstraint("state IN ('active', 'revoked')", name="state"),
        sa.CheckConstraint("source IN ('registered', 'issued', 'upn')", name="source"),
    )
    op.create_index("ix_piv_cards_user_id", "piv_cards", ["user_id"])
    op.create_table(
        "piv_challenges",
        sa.Column("handle_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("challenge", sa.LargeBinary(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("card_id", sa.Integer, sa.ForeignKey("piv_cards.id"), nullable=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("certificate", sa.LargeBinary, nullable=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        # Set once, by the one request that claims the challenge.
        sa.Column("used_at", sa.Double, nullable=True),
    )
    op.create_index("ix_piv_challenges_expires_at", "piv_challenges", ["expires_at"])
    op.create_index("ix_piv_challenges_fingerprint", "piv_challenges", ["fingerprint"])
    op.create_table(
        "piv_issuing_cas",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
        sa.Column("sealed_key", sa.LargeBinary, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        # 1 on the CA that issues, NULL on retired ones: at most one active CA.
        sa.Column("active", sa.Integer, nullable=True, unique=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=True),
        sa.Column("retired_at", sa.Double, nullable=True),
        sa.CheckConstraint("source IN ('builtin', 'imported')", name="source"),
        sa.CheckConstraint("active = 1", name="active"),
    )
    op.create_table(
        "piv_trust_anchors",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("not_after", sa.Double, nullable=False),
        sa.Column("added_at", sa.Double, nullable=False),
        sa.Column("added_by", sa.String(256), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("piv_trust_anchors")
    op.drop_table("piv_issuing_cas")
    op.drop_index("ix_piv_challenges_fingerprint", table_name="piv_challenges")
    op.drop_index("ix_piv_challenges_expires_at", table_name="piv_challenges")
    op.drop_table("piv_challenges")
    op.drop_index("ix_piv_cards_user_id", table_name="piv_cards")
    op.drop_table("piv_cards")
