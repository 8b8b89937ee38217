"""What every route puts on and takes off the wire: JSON out, strict JSON or form in.

``error_response`` renders any ``OAuthError``; the application's one exception handler uses it.

Answers are compact JSON; anything that carries a token, a challenge or an error is sent
with ``NO_STORE`` (RFC 6749 section 5.1). Request bodies are read strictly: the right
media type, a size cap, and no member or parameter given twice, so that two parsers can
never read one body two ways. What fails is an ``InvalidRequest`` for the OAuth handler.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from tokenstile import errors
from tokenstile.errors import InvalidRequest, OAuthError

JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"
NO_STORE: Final[Mapping[str, str]] = errors.NO_STORE  # defined where every error answer uses it
MAX_FORM_BYTES: Final = 16 * 1024


def json_response(
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    media_type: str = JSON,
) -> Response:
    """``body`` as compact JSON, with exactly ``headers``."""
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=media_type,
        headers=headers,
    )


def no_store_json(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``body`` as compact JSON that no cache keeps; ``headers`` come after ``NO_STORE``."""
    return json_response(body, status, NO_STORE if headers is None else {**NO_STORE, **headers})


def error_response(exc: OAuthError) -> Response:
    """The one way an error goes on the wire: its status, its JSON, its headers."""
    return json_response(exc.to_json(), exc.status, exc.headers())


def request_origin(request: Request) -> str:
    """Where a request came from, for the audit log: the peer address and its user agent."""
    client = request.client
    agent = request.headers.get("user-agent", "")[:120]
    return f"{client.host if client else '?'} {agent}".strip()


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(request: Request) -> bool:
    """Whether the body is declared JSON: ``application/json`` or ``application/*+json``."""
    ctype = _media_type(request)
    return ctype == JSON or (ctype.startswith("application/") and ctype.endswith("+json"))


def require_json(request: Request) -> None:
    """``InvalidRequest`` unless the body is declared JSON."""
    if not is_json(request):
        raise InvalidRequest(f"Send the parameters as {JSON}.")


def _unique(pairs: list[tuple[str, Any]], what: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise InvalidRequest(f"The {what} {name} is repeated.")
        result[name] = value
    return result


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return _unique(pairs, "member")


def json_object(body: bytes, limit: int) -> dict[str, Any]:
    """A JSON object of at most ``limit`` bytes whose members are each given once."""
    if len(body) > limit:
        raise InvalidRequest("The request body is too large.")
    try:
        data = json.loads(body, object_pairs_hook=_unique_members)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # deep nesting too
        raise InvalidRequest("The request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """Parse an urlencoded body strictly: right media type, size cap, no repeated names."""
    if _media_type(request) != FORM:
        raise InvalidRequest(f"Send the parameters as {FORM}.")
    body = await request.body()
    if len(body) > limit:
        raise InvalidRequest("The request body is too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("The request body is not valid form data.") from exc
    return _unique(pairs, "parameter")


MAX_AGE_DIGITS: Final = 10
MAX_ACR_VALUES_CHARS: Final = 256


def max_age_seconds(text: str | None) -> int | None:
    """A ``max_age`` parameter (token exchange, ``/authorize``): seconds, ASCII digits
    only, at most ten of them; None when not asked."""
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > MAX_AGE_DIGITS:
        raise InvalidRequest("max_age must be a number of seconds.")
    return int(text)


def acr_value_list(text: str | None) -> tuple[str, ...]:
    """An ``acr_values`` parameter: space-separated levels, preferred first."""
    if text is None:
        return ()
    if len(text) > MAX_ACR_VALUES_CHARS:
        raise InvalidRequest("The acr_values parameter is too long.")
    return tuple(text.split())
