"""private_key_jwt client authentication (issue 15): a client's public keys and the
single-use record of its assertions.

``clients.jwks``: a web client's JWK Set (public keys only), as JSON; a client with one
authenticates at the token endpoint with a signed assertion (RFC 7523 section 2.2)
instead of a secret. ``client_assertion_jtis``: each accepted assertion's ``jti``
(hashed with its client id), kept until the assertion's ``exp`` so a replay is refused on
every replica; the purge drops expired rows.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("jwks", sa.Text, nullable=True))
    op.create_table(
        "client_assertion_jtis",
        sa.Column("key_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_client_assertion_jtis_expires_at", "client_assertion_jtis", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_client_assertion_jtis_expires_at", table_name="client_assertion_jtis")
    op.drop_table("client_assertion_jtis")
    op.drop_column("clients", "jwks")
