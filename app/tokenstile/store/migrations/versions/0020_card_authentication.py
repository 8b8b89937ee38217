"""The card tap of tap-and-go (issue 17): a PIV card's card authentication certificate
(slot 9E, a key that signs without the PIN) enrolled alongside its 9A certificate, in the
card's own row. A card tap is looked up by its fingerprint, so it is unique; it is empty
for a card enrolled without one (no card tap for it).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs and an index: a batch copy of ``piv_cards`` would trip the
    # foreign keys that point at it on SQLite (and SQLite cannot ADD a UNIQUE column).
    op.add_column("piv_cards", sa.Column("card_auth_fingerprint", sa.String(64), nullable=True))
    op.add_column("piv_cards", sa.Column("card_auth_certificate", sa.LargeBinary, nullable=True))
    op.create_index(
        "ix_piv_cards_card_auth_fingerprint",
        "piv_cards",
        ["card_auth_fingerprint"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_piv_cards_card_auth_fingerprint", table_name="piv_cards")
    op.drop_column("piv_cards", "card_auth_certificate")
    op.drop_column("piv_cards", "card_auth_fingerprint")
