"""The tables, in SQLAlchemy Core. Alembic migrations under ``migrations/`` create them.

Times are epoch seconds (double precision) so SQLite and PostgreSQL compare them alike.
Secrets never appear here in the clear: refresh tokens, opaque access tokens and client
secrets are hashes; private keys are AES-GCM blobs under the key-encryption key.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(128), nullable=False, unique=True),
    Column("display_name", String(256), nullable=False, default=""),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Double, nullable=False),
)

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("secret_hash", String(128), nullable=True),
    Column("audiences", Text, nullable=False, default="[]"),
    Column("scopes", Text, nullable=False, default="[]"),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Double, nullable=False),
)

audiences = Table(
    "audiences",
    metadata,
    Column("audience", String(256), primary_key=True),
    Column("token_format", String(16), nullable=False, default="jwt"),
    Column("lifetime", Integer, nullable=True),
    Column("min_acr", String(64), nullable=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_key", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("sign_from", Double, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("client_id", String(64), ForeignKey("clients.client_id"), nullable=False),
    Column("audience", String(256), nullable=False),
    Column("scope", Text, nullable=False, default=""),
    Column("amr", Text, nullable=False, default="[]"),
    Column("acr", String(64), nullable=False),
    Column("factor", String(32), nullable=False),
    Column("auth_time", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("idle_timeout", Double, nullable=False),
    Column("last_used_at", Double, nullable=False),
    Column("revoked_at", Double, nullable=True),
    Column("revoke_reason", String(64), nullable=True),
    Index("ix_sessions_user_id", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("sid", String(64), ForeignKey("sessions.sid"), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("parent_id", Integer, nullable=True),
    Column("created_at", Double, nullable=False),
    # Set once, by the one request that rotates this token.
    Column("used_at", Double, nullable=True),
    Column("successor_id", Integer, nullable=True),
    # Set when a grace-period retry replaced this never-used token.
    Column("superseded_at", Double, nullable=True),
    Index("ix_refresh_tokens_sid", "sid"),
)

opaque_tokens = Table(
    "opaque_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("sid", String(64), ForeignKey("sessions.sid"), nullable=False),
    Column("claims", Text, nullable=False),
    Column("expires_at", Double, nullable=False),
    Index("ix_opaque_tokens_expires_at", "expires_at"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("event", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("username", String(128), nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("sid", String(64), nullable=True),
    Column("factor", String(32), nullable=True),
    Column("origin", String(256), nullable=True),
    Column("detail", Text, nullable=False, default="{}"),
    Index("ix_audit_at", "at"),
)

# One-time-password credentials (TOTP/HOTP fobs and authenticator apps). ``user_id`` is
# NULL for an imported fob not handed out yet. ``last_used`` is the last accepted time
# step or counter (-1: never), the value the conditional UPDATE of a login compares, so
# it is a BIGINT. ``sealed_seed`` is the seed under the KEK, bound to the serial.
otp_credentials = Table(
    "otp_credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("serial", String(128), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("label", String(256), nullable=False, default=""),
    Column("kind", String(8), nullable=False),
    Column("algorithm", String(8), nullable=False),
    Column("digits", Integer, nullable=False),
    Column("period", Integer, nullable=True),
    Column("state", String(16), nullable=False),
    Column("sealed_seed", LargeBinary, nullable=False),
    Column("last_used", BigInteger, nullable=False, default=-1),
    Column("drift", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_failure_at", Double, nullable=True),
    Column("last_used_at", Double, nullable=True),
    Column("not_before", Double, nullable=True),
    Column("not_after", Double, nullable=True),
    Column("manufacturer", String(256), nullable=True),
    Column("model", String(256), nullable=True),
    Column("issuer", String(256), nullable=True),
    Column("key_id", String(256), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("enrolled_by", String(256), nullable=True),
    Column("state_changed_at", Double, nullable=True),
    CheckConstraint("kind IN ('totp', 'hotp')", name="kind"),
    CheckConstraint("state IN ('pending', 'active', 'locked', 'revoked')", name="state"),
    Index("ix_otp_credentials_user_id", "user_id"),
)

# Consecutive OTP login failures per person (the per-credential count is on the row).
otp_user_failures = Table(
    "otp_user_failures",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_failure_at", Double, nullable=True),
)
