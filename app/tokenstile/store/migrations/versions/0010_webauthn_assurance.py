"""What a FIDO2 credential's enrollment verified about its key (issue 16).

``webauthn_credentials.assurance``: ``attested`` (its attestation chained to a configured
hardware root), ``vouched`` (an admin vouched for the key at enrollment, audited),
``software`` (the key said it is a software key) or ``unverified``. Only ``attested``
and ``vouched`` sign in as a hardware key (``amr`` ``hwk``, ``acr`` ``phrh``).

``fido_metadata``: the FIDO Metadata Service (MDS3) BLOBs an admin loaded, verified to
the configured MDS root before they are stored; the one with the highest ``no`` counts.

Credentials enrolled before this revision were not checked this way: they become
``unverified`` (``swk``, ``phr``) until they are enrolled again with verified
attestation or an admin's word.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ASSURANCES = "assurance IN ('attested', 'vouched', 'unverified', 'software')"


def upgrade() -> None:
    # Batch mode on SQLite (a table copy, for the CHECK); plain ALTER on PostgreSQL.
    with op.batch_alter_table("webauthn_credentials") as batch:
        batch.add_column(
            sa.Column("assurance", sa.String(16), nullable=False, server_default="unverified")
        )
        batch.create_check_constraint("assurance", _ASSURANCES)
    op.create_table(
        "fido_metadata",
        sa.Column("no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("next_update", sa.String(10), nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("blob", sa.Text, nullable=False),
        sa.Column("loaded_at", sa.Double, nullable=False),
        sa.Column("loaded_by", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fido_metadata")
    with op.batch_alter_table("webauthn_credentials") as batch:
        batch.drop_constraint("assurance", type_="check")
        batch.drop_column("assurance")
