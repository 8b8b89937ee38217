"""private_key_jwt at the token and revocation endpoints: the request's client, proved
by a signed assertion (RFC 7523 section 2.2) instead of a secret.

One authentication method per request (RFC 6749 section 2.3): an assertion beside Basic
credentials or a ``client_secret`` is refused, and so is an assertion for a client that
registered a secret instead of keys. The assertion's ``jti`` is recorded in the database
until it expires, so a replay is refused by every replica.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import Request

from tokenstile.deployment import Deployment
from tokenstile.errors import InvalidClient, InvalidRequest
from tokenstile.store.client_repository import remember_client_assertion
from tokenstile.store.rows import is_plain_text
from tokenstile.tokens.client_assertion import (
    ASSERTION_TYPE,
    assertion_issuer,
    verify_client_assertion,
)
from tokenstile.tokens.model import Client

ASSERTION_AUTH_METHOD = "private_key_jwt"


def assertion_client(
    deployment: Deployment,
    find_client: Callable[[str], Client | None],
    request: Request,
    form: dict[str, str],
    *,
    audiences: Iterable[str],
) -> Client:
    """The client a ``client_assertion`` proves; ``InvalidRequest`` for a malformed or
    mixed request, ``InvalidClient`` for an assertion that does not prove the client."""
    if request.headers.get("authorization", "").lower().startswith("basic "):
        raise InvalidRequest("Authenticate once: a client assertion or Basic credentials.")
    if "client_secret" in form:
        raise InvalidRequest("Authenticate once: a client assertion or a client secret.")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}.")
    assertion = form.get("client_assertion", "")
    if not assertion:
        raise InvalidClient("The client_assertion parameter is missing.")
    client_id = assertion_issuer(assertion)
    if "client_id" in form and form["client_id"] != client_id:
        raise InvalidRequest("client_id differs from the client assertion's issuer.")
    client = find_client(client_id) if is_plain_text(client_id) else None
    if client is None or not client.enabled or client.jwks is None:
        raise InvalidClient("Client authentication failed.")
    now = deployment.clock.now()
    accepted = verify_client_assertion(
        client,
        assertion,
        audiences=audiences,
        now=now,
        max_lifetime=deployment.settings.client_assertion_max_lifetime,
    )
    if not remember_client_assertion(
        deployment.store, client.client_id, accepted.jti, expires_at=accepted.keep_until, now=now
    ):
        raise InvalidClient("This client assertion was used before (jti).")
    return client
