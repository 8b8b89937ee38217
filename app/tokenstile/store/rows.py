"""Rows to domain values and back: the row readers and text rules every SQL adapter shares.

``users``, ``clients``, ``audiences`` and ``sessions`` rows become ``tokens.model`` values
here, once; free text is checked (``is_plain_text``) and cut to its column (``clip``);
JSON columns are written in one canonical form (``json_text``).
"""

from __future__ import annotations

import json
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
    )


def audience_from_row(row: Row[Any]) -> AudiencePolicy:
    fmt: Literal["jwt", "opaque"] = "opaque" if row.token_format == "opaque" else "jwt"  # noqa: S105
    return AudiencePolicy(row.audience, fmt, row.lifetime, row.min_acr)


def session_from_row(m: Any) -> Session:
    return Session(
        sid=m["sid"],
        user_id=m["user_id"],
        client_id=m["client_id"],
        audience=m["audience"],
        scope=m["scope"],
        amr=tuple(json.loads(m["amr"])),
        acr=m["acr"],
        factor=m["factor"],
        auth_time=m["auth_time"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        idle_timeout=m["idle_timeout"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
        revoke_reason=m["revoke_reason"],
        dpop_jkt=m["dpop_jkt"],
        credential=m["credential"],
    )
