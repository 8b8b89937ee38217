"""Response and request shapes, for the OpenAPI document (hot routes serialise by hand)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class OAuthErrorBody(BaseModel):
    error: str = Field(examples=["invalid_grant"])
    error_description: str


class AdminErrorBody(BaseModel):
    error: str
    error_description: str


class TokenResponseBody(BaseModel):
    """RFC 6749 section 5.1; RFC 8693 section 2.2.1 for token exchange (no refresh token,
    ``issued_token_type`` added); ``token_type`` is ``DPoP`` for key-bound tokens."""

    access_token: str
    token_type: str = Field(examples=["Bearer", "DPoP"])
    expires_in: int
    refresh_token: str | None = None
    scope: str
    issued_token_type: str | None = Field(
        default=None, examples=["urn:ietf:params:oauth:token-type:access_token"]
    )
    refresh_token_expires_in: int | None = Field(
        default=None,
        ge=0,
        description="Seconds until the session's absolute end, when the refresh token dies "
        "whatever its use (not in RFC 6749; a common extension). With every refresh token.",
        examples=[43200],
    )


class IntrospectionBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    active: bool


class JwksBody(BaseModel):
    keys: list[dict[str, Any]]


class MetadataBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    issuer: str
    jwks_uri: str
    token_endpoint: str


class UserinfoBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    sub: str


class OfflineLeaseBody(BaseModel):
    lease: str  # a JWS, typ tokenstile-offline-lease+jwt (protocol.offline_lease)
    expires_at: float


def _request_body(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def _object(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def form_body(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    """An ``openapi_extra`` request body for an application/x-www-form-urlencoded route."""
    return _request_body("application/x-www-form-urlencoded", _object(properties, required))


def json_body(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    """An ``openapi_extra`` request body for a route that reads its JSON object by hand."""
    return _request_body("application/json", _object(properties, required))


def model_body(model: type[BaseModel]) -> dict[str, Any]:
    """An ``openapi_extra`` request body for a route that reads ``model`` from JSON."""
    return _request_body("application/json", model.model_json_schema())


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthErrorBody, "description": "RFC 6749 section 5.2 error"},
    401: {"model": OAuthErrorBody, "description": "Client authentication failed"},
    503: {"model": OAuthErrorBody, "description": "The store is unavailable; retry"},
}


def admin_errors(
    *, bad_input: str, not_found: str, conflict: str
) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a factor's admin router; the descriptions name what it refuses."""
    return {
        400: {"model": AdminErrorBody, "description": bad_input},
        401: {"model": AdminErrorBody, "description": "no or invalid access token"},
        403: {
            "model": AdminErrorBody,
            "description": "no admin scope, or a role that does not allow this operation",
        },
        404: {"model": AdminErrorBody, "description": not_found},
        409: {"model": AdminErrorBody, "description": conflict},
    }
