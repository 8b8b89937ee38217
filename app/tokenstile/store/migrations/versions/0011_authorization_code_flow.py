"""The OpenID Provider's authorization code flow (issue 15, first slice).

``clients.redirect_uris``: where ``/authorize`` may send a web or native client's answers
(a JSON list; existing clients have none). ``sessions.parent_sid``: an app's session
opened by an authorization code names the provider (browser) session it came from.
``browser_sessions``: the hash of a browser's sign-in cookie and the provider session it
holds. ``authorization_codes``: codes as hashes, bound to client, redirect URI and PKCE
challenge, single use.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("redirect_uris", sa.Text, nullable=False, server_default="[]"))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("parent_sid", sa.String(64), nullable=True))
    op.create_index("ix_sessions_parent_sid", "sessions", ["parent_sid"])
    op.create_table(
        "browser_sessions",
        sa.Column("cookie_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("sid", sa.String(64), sa.ForeignKey("sessions.sid"), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_browser_sessions_sid", "browser_sessions", ["sid"])
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("sid", sa.String(64), sa.ForeignKey("sessions.sid"), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("code_challenge", sa.String(64), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("nonce", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("used_at", sa.Double, nullable=True),
        sa.Column("issued_sid", sa.String(64), nullable=True),
    )
    op.create_index("ix_authorization_codes_expires_at", "authorization_codes", ["expires_at"])
    op.create_index("ix_authorization_codes_sid", "authorization_codes", ["sid"])


def downgrade() -> None:
    op.drop_index("ix_authorization_codes_sid", table_name="authorization_codes")
    op.drop_index("ix_authorization_codes_expires_at", table_name="authorization_codes")
    op.drop_table("authorization_codes")
    op.drop_index("ix_browser_sessions_sid", table_name="browser_sessions")
    op.drop_table("browser_sessions")
    op.drop_index("ix_sessions_parent_sid", table_name="sessions")
    # SQLite 3.35+ and PostgreSQL both drop a column in place.
    op.drop_column("sessions", "parent_sid")
    op.drop_column("clients", "redirect_uris")
