"""The tables, in SQLAlchemy Core. Alembic migrations under ``migrations/`` create them.

Times are epoch seconds (double precision) so SQLite and PostgreSQL compare them alike.
Secrets never appear here in the clear: refresh tokens, opaque access tokens and client
secrets are hashes; private keys are AES-GCM blobs under the key-encryption key.

Each table is written out column by column, as its migration wrote it. The credential
tables (``piv_cards``, ``otp_credentials``, ``webauthn_credentials``) and the challenge
tables look alike, but each column is a fact about its own table, checked against the
migrations; a shared column helper would hide what a table holds and could not follow
one table's change without the others.
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
    UniqueConstraint,
    false,
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
    # The directory (LDAP/AD sync or SCIM client) that manages this person, by name;
    # None for a person added by hand (issue 18). Never deleted by a directory.
    Column("directory", String(64), nullable=True),
)

# A person's roles (issue 17, four-eyes confirm: "someone with the role ROLE confirms
# too"). Plain names an admin gives with ``tokenstile manage user role``.
user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("granted_at", Double, nullable=False),
)

# SCIM 2.0 inbound provisioning (issue 18, migration 0021): the clients' bearer tokens
# (SHA-256 hex; a revoked one keeps its name so no new token takes over its people), the
# SCIM side of the people a client manages (``users.directory`` = ``scim:<name>``), and
# the client's groups (a group named after a role the client may grant gives it).
scim_tokens = Table(
    "scim_tokens",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("roles", Text, nullable=False, default="[]", server_default="[]"),
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double, nullable=True),
)

scim_users = Table(
    "scim_users",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("scim_id", String(64), nullable=False, unique=True),
    Column("external_id", String(256), nullable=True),
    # The attributes kept but not used (name, emails ...): the SCIM JSON of them.
    Column("profile", Text, nullable=False, default="{}", server_default="{}"),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("version", Integer, nullable=False, default=1, server_default="1"),
)

scim_groups = Table(
    "scim_groups",
    metadata,
    Column("scim_id", String(64), primary_key=True),
    Column("directory", String(64), nullable=False, index=True),
    Column("display_name", String(256), nullable=False),
    Column("external_id", String(256), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("version", Integer, nullable=False, default=1, server_default="1"),
)

scim_group_members = Table(
    "scim_group_members",
    metadata,
    Column("group_id", String(64), ForeignKey("scim_groups.scim_id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
)

# Temporary access codes (issue 18): a helpdesk-issued code a person who lost their factor
# signs in with (acr ``tac``). Only a salted scrypt hash of the code is kept; ``uses_left``
# counts down in one conditional UPDATE (``store.access_codes``).
access_codes = Table(
    "access_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("code_hash", String(256), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("uses", Integer, nullable=False),
    Column("uses_left", Integer, nullable=False),
    Column("issued_by", String(200), nullable=False),
    Column("revoked_at", Double, nullable=True),
    CheckConstraint("uses_left >= 0 AND uses_left <= uses", name="uses_left_range"),
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
    # RFC 9449: every token-issuing request of the client must carry a DPoP proof.
    Column("dpop_bound", Boolean, nullable=False, default=False, server_default=false()),
    # Where /authorize may send a web or native client's answers: a JSON list of URIs.
    Column("redirect_uris", Text, nullable=False, default="[]", server_default="[]"),
    # Where /logout may send the browser back after sign-out: a JSON list, exact match.
    Column("post_logout_redirect_uris", Text, nullable=False, default="[]", server_default="[]"),
    # Where back-channel logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0).
    Column("backchannel_logout_uri", Text, nullable=True),
    # private_key_jwt (RFC 7523 section 2.2): the client's JWK Set, public keys only, JSON.
    Column("jwks", Text, nullable=True),
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
    # The RFC 7638 thumbprint (base64url SHA-256) of the DPoP key the tokens are bound to.
    Column("dpop_jkt", String(64), nullable=True),
    # The credential that opened the session (``tokens.model.credential_ref``): revoking
    # it ends the session.
    Column("credential", Text, nullable=True),
    # An app's session opened by an authorization code: the provider (browser) session it
    # came from. No foreign key: the purge ends sessions in any order.
    Column("parent_sid", String(64), nullable=True),
    # Parked at its kiosk (``tokens.parking``): since when and until when; NULL in use.
    Column("parked_at", Double, nullable=True),
    Column("parked_until", Double, nullable=True),
    Index("ix_sessions_user_id", "user_id"),
    Index("ix_sessions_credential", "credential"),
    Index("ix_sessions_parent_sid", "parent_sid"),
    Index("ix_sessions_parked_until", "parked_until"),
)

# The browser's handle on a provider session (the OpenID Provider's sign-in cookie): the
# SHA-256 of the cookie's 256-bit random value, never the sid itself (apps see the sid in
# ID tokens; the cookie must be something they never see).
browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("cookie_hash", LargeBinary(32), primary_key=True),
    Column("sid", String(64), ForeignKey("sessions.sid"), nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_browser_sessions_sid", "sid"),
)

# Authorization codes (RFC 6749 section 4.1), stored as SHA-256 hashes: bound to their
# client, redirect URI and PKCE challenge (RFC 7636, S256), single use, short-lived.
# ``sid`` is the provider session they carry; ``issued_sid`` the app session their
# exchange opened, which a second use of the code ends (RFC 6749 section 10.5).
authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", LargeBinary(32), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("sid", String(64), ForeignKey("sessions.sid"), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("code_challenge", String(64), nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("used_at", Double, nullable=True),
    Column("issued_sid", String(64), nullable=True),
    Index("ix_authorization_codes_expires_at", "expires_at"),
    Index("ix_authorization_codes_sid", "sid"),
)

# Kiosk single sign-on hand-offs (``tokens.kiosk_sso``), by SHA-256 of their random id,
# so every replica sees them: the hash of the pre-session cookie of the browser that made
# one, the checked authorization request (JSON list of [name, value] pairs), its end;
# once the kiosk's broker satisfied it, the kiosk session (``sid``) and the hash of the
# ticket the broker gave the browser; ``claimed`` once used or burned. Satisfying and
# claiming are conditional UPDATEs (one winner across replicas); the purge drops
# expired ones.
kiosk_sso_handoffs = Table(
    "kiosk_sso_handoffs",
    metadata,
    Column("handoff_hash", LargeBinary(32), primary_key=True),
    Column("browser_hash", LargeBinary(32), nullable=False),
    Column("request", Text, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("sid", String(64), ForeignKey("sessions.sid"), nullable=True),
    Column("ticket_hash", LargeBinary(32), nullable=True),
    Column("claimed", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_kiosk_sso_handoffs_expires_at", "expires_at"),
    Index("ix_kiosk_sso_handoffs_sid", "sid"),
)

# Offline sign-in's evidence exchanged for a session (issue 17), by the SHA-256 of the
# key's client data or the card's challenge: a second exchange fails on the primary key.
offline_evidence = Table(
    "offline_evidence",
    metadata,
    Column("digest", LargeBinary(32), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("factor", String(16), nullable=False),
    Column("signed_at", Double, nullable=False),
    Column("spent_at", Double, nullable=False),
    Column("keep_until", Double, nullable=False),
    Index("ix_offline_evidence_keep_until", "keep_until"),
)

# Tap-and-go (issue 17, ``tokens.shifts``): kiosk groups and their shift length (0 = off),
# which group a kiosk client belongs to, and one shift grant per person and group, made
# or renewed by a full sign-in at a kiosk of the group (the credential used, the session
# it opened, the shift's end; ``ended_at``/``end_reason`` once ended early).
kiosk_groups = Table(
    "kiosk_groups",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("shift_hours", Double, nullable=False, default=0.0, server_default="0"),
    Column("created_at", Double, nullable=False),
    CheckConstraint("shift_hours >= 0 AND shift_hours <= 24", name="shift_hours"),
)

kiosk_group_members = Table(
    "kiosk_group_members",
    metadata,
    Column("client_id", String(64), ForeignKey("clients.client_id"), primary_key=True),
    Column("kiosk_group", String(64), ForeignKey("kiosk_groups.name"), nullable=False),
    Index("ix_kiosk_group_members_kiosk_group", "kiosk_group"),
)

shift_grants = Table(
    "shift_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("kiosk_group", String(64), ForeignKey("kiosk_groups.name"), nullable=False),
    Column("credential", Text, nullable=False),
    Column("sid", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("ended_at", Double, nullable=True),
    Column("end_reason", String(64), nullable=True),
    UniqueConstraint("user_id", "kiosk_group", name="uq_shift_grants_user_id"),
    Index("ix_shift_grants_kiosk_group", "kiosk_group"),
    Index("ix_shift_grants_credential", "credential"),
)

# Back-channel logout deliveries: one row per ended app session whose client registered
# a back-channel URI. ``sid`` is the provider session the client's ID tokens named;
# ``app_sid`` the ended app session. A replica claims a due row by writing its own
# ``lease`` and pushing ``next_attempt_at`` past the delivery's time limit (one atomic
# update; on PostgreSQL the candidates are read FOR UPDATE SKIP LOCKED); ``state`` is
# pending, delivered or failed. The token itself is signed at each attempt, never stored.
backchannel_logouts = Table(
    "backchannel_logouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("jti", String(64), nullable=False, unique=True),
    Column("client_id", String(64), nullable=False),
    Column("uri", Text, nullable=False),
    Column("sid", String(64), nullable=False),
    Column("app_sid", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("next_attempt_at", Double, nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("lease", String(64), nullable=True),
    Column("state", String(16), nullable=False, default="pending", server_default="pending"),
    Column("finished_at", Double, nullable=True),
    Index("ix_backchannel_logouts_due", "state", "next_attempt_at"),
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

# DPoP proofs seen at the token service (RFC 9449 section 11.1), so a proof is refused
# the second time on any replica: the SHA-256 of the key thumbprint and the proof's jti,
# kept until the proof would be too old anyway; expired rows go when new ones come.
dpop_replay = Table(
    "dpop_replay",
    metadata,
    Column("key_hash", LargeBinary(32), primary_key=True),
    Column("expires_at", Double, nullable=False),
    Index("ix_dpop_replay_expires_at", "expires_at"),
)

# Accepted client assertions (private_key_jwt), by SHA-256 of client id and ``jti``, kept
# until the assertion's ``exp``: a replay is refused on every replica; the purge drops them.
client_assertion_jtis = Table(
    "client_assertion_jtis",
    metadata,
    Column("key_hash", LargeBinary(32), primary_key=True),
    Column("expires_at", Double, nullable=False),
    Index("ix_client_assertion_jtis_expires_at", "expires_at"),
)

# Access tokens revoked alone (a derived token: exchanged, or for a resource server's
# audience), by ``jti``, kept until the token would have expired anyway; the service's
# own checks (introspection, userinfo, the admin API) consult it. Revoking a session's own
# token ends the session instead. No foreign key: a row outlives nothing but its token.
revoked_access_tokens = Table(
    "revoked_access_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("sid", String(64), nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("revoked_at", Double, nullable=False),
    Index("ix_revoked_access_tokens_expires_at", "expires_at"),
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

# PIV smart cards (issue 5). A card is known by the SHA-256 fingerprint of its 9A
# certificate (kept whole, DER); ``card_guid`` is the CHUID GUID when the enrolling
# station read it. ``source``: registered (the card's own certificate), issued (by our
# issuing CA), upn (mapped by its UPN at its first login).
piv_cards = Table(
    "piv_cards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("certificate", LargeBinary, nullable=False),
    Column("cert_serial", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("issuer", String(512), nullable=False),
    Column("not_before", Double, nullable=False),
    Column("not_after", Double, nullable=False),
    Column("key_algorithm", String(16), nullable=False),
    Column("upn", String(256), nullable=True),
    Column("card_guid", String(64), nullable=True),
    Column("label", String(256), nullable=False, default=""),
    Column("source", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("enrolled_by", String(256), nullable=True),
    Column("last_used_at", Double, nullable=True),
    Column("revoked_at", Double, nullable=True),
    Column("revoked_by", String(256), nullable=True),
    # The card authentication certificate (slot 9E, signs without the PIN) enrolled with
    # the card, for the card tap of tap-and-go (revision 0020); NULL: no card tap.
    Column("card_auth_fingerprint", String(64), nullable=True),
    Column("card_auth_certificate", LargeBinary, nullable=True),
    CheckConstraint("state IN ('active', 'revoked')", name="state"),
    CheckConstraint("source IN ('registered', 'issued', 'upn')", name="source"),
    Index("ix_piv_cards_user_id", "user_id"),
    Index("ix_piv_cards_card_auth_fingerprint", "card_auth_fingerprint", unique=True),
)

# Login challenges, single use (``used_at`` set by one conditional UPDATE), kept in the
# database so any replica completes what another began. ``card_id`` is NULL (and the
# certificate kept here) for a certificate mapped by its UPN that has no card row yet.
# Every well-formed certificate gets one, enrolled or not (revision 0009): ``refusal``
# holds why the first step refused it (``user_id`` NULL when nobody holds it), and the
# second step then refuses whatever the signature.
piv_challenges = Table(
    "piv_challenges",
    metadata,
    Column("handle_hash", LargeBinary(32), primary_key=True),
    Column("challenge", LargeBinary(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("card_id", Integer, ForeignKey("piv_cards.id"), nullable=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("certificate", LargeBinary, nullable=True),
    Column("client_id", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("used_at", Double, nullable=True),
    Column("refusal", String(32), nullable=True),
    Index("ix_piv_challenges_expires_at", "expires_at"),
)

# Issuing CAs, the key sealed under the KEK. ``active`` is 1 on the one CA that issues
# and NULL on retired ones: the unique constraint allows one active CA, even when two
# replicas create the built-in CA at the same moment.
piv_issuing_cas = Table(
    "piv_issuing_cas",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("certificate", LargeBinary, nullable=False),
    Column("sealed_key", LargeBinary, nullable=False),
    Column("source", String(16), nullable=False),
    Column("active", Integer, nullable=True, unique=True),
    Column("created_at", Double, nullable=False),
    Column("created_by", String(256), nullable=True),
    Column("retired_at", Double, nullable=True),
    CheckConstraint("source IN ('builtin', 'imported')", name="source"),
    CheckConstraint("active = 1", name="active"),
)

# Trust anchors for certificates issued elsewhere (``trust add``).
piv_trust_anchors = Table(
    "piv_trust_anchors",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("certificate", LargeBinary, nullable=False),
    Column("subject", String(512), nullable=False),
    Column("not_after", Double, nullable=False),
    Column("added_at", Double, nullable=False),
    Column("added_by", String(256), nullable=True),
)

# FIDO2 security keys (issue 4). ``credential_id`` is the WebAuthn credential ID (up to
# 1023 bytes); ``public_key`` the canonical COSE_Key; ``user_handle`` the opaque
# WebAuthn user.id the key returns at a usernameless login. ``sign_count`` is the last
# count seen, moved forward only by a conditional UPDATE; a count that fails to increase
# sets ``state`` to suspended. ``uv_method``: how the key verifies its user, from its
# getInfo at enrollment (pin, builtin, unknown), which decides the ``pin`` amr value.
webauthn_credentials = Table(
    "webauthn_credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("credential_id", LargeBinary(1023), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("user_handle", LargeBinary(64), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("algorithm", Integer, nullable=False),
    Column("aaguid", String(36), nullable=False),
    Column("sign_count", BigInteger, nullable=False, default=0),
    Column("transports", Text, nullable=False, default="[]"),
    Column("backup_eligible", Boolean, nullable=False, default=False),
    Column("backup_state", Boolean, nullable=False, default=False),
    Column("attestation_format", String(32), nullable=False),
    Column("uv_method", String(16), nullable=False),
    Column("label", String(256), nullable=False, default=""),
    Column("state", String(16), nullable=False),
    Column("state_reason", String(64), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("enrolled_by", String(256), nullable=True),
    Column("last_used_at", Double, nullable=True),
    Column("state_changed_at", Double, nullable=True),
    # What enrollment verified about the key (revision 0010); see factors.webauthn_registration.
    Column("assurance", String(16), nullable=False, server_default="unverified"),
    CheckConstraint("state IN ('active', 'suspended', 'revoked')", name="state"),
    CheckConstraint("uv_method IN ('pin', 'builtin', 'unknown')", name="uv_method"),
    CheckConstraint(
        "assurance IN ('attested', 'vouched', 'unverified', 'software')", name="assurance"
    ),
    Index("ix_webauthn_credentials_user_id", "user_id"),
)

# FIDO Metadata Service (MDS3) BLOBs, verified before they are stored (revision 0010);
# the highest ``no`` is the one enrollment reads.
fido_metadata = Table(
    "fido_metadata",
    metadata,
    Column("no", Integer, primary_key=True, autoincrement=False),
    Column("next_update", String(10), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("blob", Text, nullable=False),
    Column("loaded_at", Double, nullable=False),
    Column("loaded_by", String(256), nullable=False),
)

# Open WebAuthn challenges (login and registration), under the SHA-256 of their opaque
# handle so any replica can complete a ceremony another began. Taken by one
# ``DELETE ... RETURNING``: single use even when two requests race. ``context`` (JSON)
# holds what a registration needs at completion (label, user handle, who began it).
webauthn_challenges = Table(
    "webauthn_challenges",
    metadata,
    Column("handle_hash", LargeBinary(32), primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("challenge", LargeBinary(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("context", Text, nullable=False, default="{}"),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    CheckConstraint("purpose IN ('login', 'register')", name="purpose"),
    Index("ix_webauthn_challenges_expires_at", "expires_at"),
)

# LDAP / Active Directory directories people are synced from (issue 18, revision 0022):
# where and how to read one, the path of its bind password file (never the password),
# the last sync's time, counts (JSON) and error, and the sync lease one replica holds.
directories = Table(
    "directories",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("bind_dn", Text, nullable=False),
    Column("password_file", Text, nullable=False),
    Column("base_dn", Text, nullable=False),
    Column("search_filter", Text, nullable=False),
    Column("group_dn", Text, nullable=True),
    Column("admin_group_dn", Text, nullable=True),
    Column("attribute_map", Text, nullable=False),
    Column("ca_file", Text, nullable=True),
    Column("starttls", Boolean, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_sync_at", Double, nullable=True),
    Column("last_result", Text, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("lease", String(64), nullable=True),
    Column("lease_until", Double, nullable=True),
)
