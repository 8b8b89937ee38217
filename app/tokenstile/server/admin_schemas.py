"""Bodies, query strings and answers of the people, sessions and audit admin API, and of
``GET /login/factors``.

The username of a new person is 1 to 128 characters with no white space, no control
character and none of the invisible ones (zero-width, bidi controls), so that ``alice``
and ``alice\u200b`` can never be two people. The rule is one regular expression: the
schema carries it as ``pattern`` so clients (and fuzzers) know it, and the route checks
it itself to answer with a plain sentence rather than pydantic's wording.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tokenstile.server.admin_auth import AdminApiError, check_plain_text
from tokenstile.tokens.model import MAX_USERNAME, USERNAME_PATTERN

MAX_DISPLAY_NAME = 256
MAX_SID = 64
MAX_EVENT = 64
MAX_PAGE = 500
DISPLAY_NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"
_USERNAME = re.compile(USERNAME_PATTERN)
_DISPLAY_NAME = re.compile(DISPLAY_NAME_PATTERN)

LoginFactor = Literal["fido2", "piv", "totp", "tac"]  # tac: a temporary access code
Outcome = Literal["success", "failure", "alert", "info"]
ExportFormat = Literal["csv", "jsonl"]


def check_new_username(username: str) -> None:
    """``AdminApiError`` 400 unless ``username`` may name a new person."""
    check_plain_text("username", username)
    if not _USERNAME.fullmatch(username):
        raise AdminApiError(
            400,
            "invalid_request",
            f"A username is 1 to {MAX_USERNAME} visible characters, without spaces.",
        )


def check_display_name(display_name: str) -> str:
    """The display name without surrounding spaces, or ``AdminApiError`` 400."""
    check_plain_text("display_name", display_name)
    if not _DISPLAY_NAME.fullmatch(display_name):
        raise AdminApiError(
            400, "invalid_request", "A display name may not hold control characters."
        )
    return display_name.strip()


# -- request bodies ------------------------------------------------------------------------


def _body_text(max_length: int, pattern: str, **documentation: Any) -> Any:
    """A required, non-empty text member whose ``pattern`` the schema shows and the route
    checks (to refuse with a plain sentence, not pydantic's)."""
    return Field(
        min_length=1,
        max_length=max_length,
        json_schema_extra={"pattern": pattern},
        **documentation,
    )


class AddPersonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = _body_text(MAX_USERNAME, USERNAME_PATTERN, examples=["alice"])
    display_name: str = Field(
        default="",
        max_length=MAX_DISPLAY_NAME,
        json_schema_extra={"pattern": DISPLAY_NAME_PATTERN},
        examples=["Alice Liddell"],
    )
    is_admin: bool = False


class UsernameBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = _body_text(MAX_USERNAME, NO_NUL_PATTERN, examples=["alice"])


class SidBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sid: str = _body_text(MAX_SID, NO_NUL_PATTERN, description="a session id (sid)")


# -- answers ---------------------------------------------------------------------------------


class FactorCountsBody(BaseModel):
    fido2: int = Field(description="security keys, active or suspended")
    piv: int = Field(description="smart cards, active")
    otp: int = Field(description="TOTP/HOTP credentials, pending, active or locked")


class PersonBody(BaseModel):
    username: str
    display_name: str
    is_admin: bool
    enabled: bool
    created_at: float = Field(description="epoch seconds")
    factors: FactorCountsBody
    directory: str | None = Field(
        default=None,
        description="the LDAP directory (its name) or SCIM client (scim:NAME) that manages "
        "this person; null for a person added here",
    )


class PersonListBody(BaseModel):
    users: list[PersonBody]
    total: int = Field(description="how many people match, over all pages")


class SessionBody(BaseModel):
    sid: str
    username: str
    client_id: str
    factor: str
    acr: str
    amr: list[str]
    created_at: float
    last_used_at: float
    expires_at: float = Field(description="the absolute end of the session")
    idle_expires_at: float = Field(description="when it ends unless it is used before")
    revoked_at: float | None
    revoke_reason: str | None
    active: bool = Field(description="not revoked, expired or idle")


class SessionListBody(BaseModel):
    sessions: list[SessionBody]


class RevokedBody(BaseModel):
    revoked: bool = Field(description="false when the session had been revoked already")


class AuditEventBody(BaseModel):
    id: int
    at: float = Field(description="epoch seconds")
    event: str
    outcome: Outcome
    username: str | None
    client_id: str | None
    sid: str | None
    factor: str | None
    origin: str | None
    detail: dict[str, Any]


class AuditPageBody(BaseModel):
    events: list[AuditEventBody]
    next_before_id: int | None = Field(
        description="pass as before_id for the next (older) page; null on the last page"
    )


class LoginFactorsBody(BaseModel):
    factors: list[LoginFactor] = Field(
        description="the kinds of factor someone enrolled here can sign in with (tac: a "
        "temporary access code is live)"
    )
    webauthn_rp_id: str | None = Field(
        description="the WebAuthn RP ID security keys are asked for; null if misconfigured"
    )


# -- query strings ---------------------------------------------------------------------------

MAX_OFFSET = 1_000_000
MAX_EPOCH = 1e11  # the year 5138: far enough, and no float trouble in any database
MAX_ID = 2**63 - 1


def _query_text(max_length: int, description: str | None = None) -> Any:
    """An optional text parameter without a NUL."""
    return Field(
        default=None, max_length=max_length, pattern=NO_NUL_PATTERN, description=description
    )


class PeopleQuery(BaseModel):
    q: str | None = _query_text(MAX_USERNAME, "part of the username or display name, any case")
    include_disabled: bool = True
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class SessionsQuery(BaseModel):
    username: str | None = _query_text(MAX_USERNAME)
    active_only: bool = Field(default=True, description="only sessions a refresh would accept")
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)


class AuditFilterQuery(BaseModel):
    username: str | None = _query_text(MAX_USERNAME, "exactly this person")
    event: str | None = _query_text(MAX_EVENT, "exactly this event, e.g. login")
    outcome: Outcome | None = None
    since: float | None = Field(
        default=None, ge=0, le=MAX_EPOCH, allow_inf_nan=False, description="epoch s, inclusive"
    )
    until: float | None = Field(
        default=None, ge=0, le=MAX_EPOCH, allow_inf_nan=False, description="epoch s, exclusive"
    )
    before_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="only rows with a smaller id"
    )


class AuditQuery(AuditFilterQuery):
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)


class AuditExportQuery(AuditFilterQuery):
    format: ExportFormat = "csv"
