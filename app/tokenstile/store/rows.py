"""Rows to domain values and back: the row readers and text rules every SQL adapter shares.

``users``, ``clients``, ``audiences`` and ``sessions`` rows become ``tokens.model`` values
here, once; free text is checked (``is_plain_text``) and cut to its column (``clip``);
JSON columns are written in one canonical form (``json_text``).
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, Literal, cast

from sqlalchemy import Row

from tokenstile.tokens.model import AudiencePolicy, Client, ClientKind, Session, User

# How much of a free-text value (a label, who did it) the factor tables keep.
TEXT_CHARS = 256


def is_plain_text(value: str) -> bool:
    """Text a database takes as a parameter: no NUL, and valid UTF-8 (no lone surrogate)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clip(text: str | None, limit: int = TEXT_CHARS) -> str | None:
    """Cut free text (labels, who did it) to what its column holds."""
    return None if text is None else text[:limit]


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def user_from_row(row: Row[Any]) -> User:
    return User(row.id, row.username, row.display_name, bool(row.is_admin), bool(row.enabled))


def client_from_row(row: Row[Any]) -> Client:
    return Client(
        client_id=row.client_id,
        name=row.name,
        kind=cast(ClientKind, row.kind),
        secret_hash=row.secret_hash,
        audiences=tuple(json.loads(row.audiences)),
        scopes=tuple(json.loads(row.scopes)),
        enabled=bool(row.enabled),
        dpop_bound=bool(row.dpop_bound),
        redirect_uris=tuple(json.loads(row.redirect_uris)),
        post_logout_redirect_uris=tuple(json.loads(row.post_logout_redirect_uris)),
        backchannel_logout_uri=row.backchannel_logout_uri,
        jwks=row.jwks,
    )


def audience_from_row(row: Row[Any]) -> AudiencePolicy:
    fmt: Literal["jwt", "opaque"] = "opaque" if row.token_format == "opaque" else "jwt"  # noqa: S105
    return AudiencePolicy(row.audience, fmt, row.lifetime, row.min_acr)


# The ``sessions`` columns carry the names of ``Session``'s fields; ``amr`` is JSON there.
_SESSION_FIELDS = tuple(f.name for f in fields(Session))
# A new session is not revoked: these stay NULL until ``revoke_session``.
_REVOCATION_FIELDS = frozenset({"revoked_at", "revoke_reason"})


def session_from_row(m: Any) -> Session:
    values = {name: m[name] for name in _SESSION_FIELDS}
    values["amr"] = tuple(json.loads(m["amr"]))
    return Session(**values)


def session_values(session: Session) -> dict[str, Any]:
    """The ``sessions`` row of a new session."""
    values = {
        name: getattr(session, name) for name in _SESSION_FIELDS if name not in _REVOCATION_FIELDS
    }
    values["amr"] = json_text(list(session.amr))
    return values
