"""Response and request shapes, for the OpenAPI document (hot routes serialise by hand)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class OAuthErrorBody(BaseModel):
    error: str = Field(examples=["invalid_grant"])
    error_description: str


class TokenResponseBody(BaseModel):
    access_token: str
    token_type: str = Field(examples=["Bearer"])
    expires_in: int
    refresh_token: str
    scope: str


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


def form_body(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    """An ``openapi_extra`` request body for an application/x-www-form-urlencoded route."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "required": required,
                    }
                }
            },
        }
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthErrorBody, "description": "RFC 6749 section 5.2 error"},
    401: {"model": OAuthErrorBody, "description": "Client authentication failed"},
    503: {"model": OAuthErrorBody, "description": "The store is unavailable; retry"},
}
