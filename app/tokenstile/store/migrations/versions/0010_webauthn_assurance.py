"""What a FIDO2 credential's enrollment verified about its key (issue 16).

``webauthn_credentials.assurance``: ``attested`` (its attestation chained to a configured
hardware root), ``vouched`` (an admin vouched for the key at enrollment, audited),
``software`` (the key said it is a software key) or ``unverified``. Only ``attested``
and ``vouched`` sign in as a hardware key (``amr`` ``hwk``, ``acr`` ``phrh``).

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


def downgrade() -> None:
    with op.batch_alter_table("webauthn_credentials") as batch:
        batch.drop_constraint("assurance", type_="check")
        batch.drop_column("assurance")
