"""Client authentication: a confidential client's secret, stored as a hash."""

from __future__ import annotations

import hashlib
import secrets

from tokenstile.tokens.model import Client


def client_secret_hash(secret: str) -> str:
    """Client secrets are 256-bit random; SHA-256 hex is enough and constant-time checked."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_client_secret(client: Client, secret: str) -> bool:
    if client.secret_hash is None:
        return False
    return secrets.compare_digest(client.secret_hash, client_secret_hash(secret))
