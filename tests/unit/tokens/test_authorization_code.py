"""The code flow's pure parts: PKCE S256 (RFC 7636 appendix B's vector), at_hash, scope."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tokenstile.tokens.authorization_code import AuthorizeError, authorize_scope, half_hash, s256
from tokenstile.tokens.model import Client


def test_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_at_hash_is_the_left_half_of_the_algorithm_s_hash() -> None:
    token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"  # OIDC Core A.3's access token
    assert half_hash(token, "ES256") == "77QmUPtjPfzWtF2AnpK9RQ"
    sha512 = hashlib.sha512(token.encode()).digest()[:32]
    assert half_hash(token, "EdDSA") == base64.urlsafe_b64encode(sha512).rstrip(b"=").decode()


def test_the_scope_needs_openid_and_stays_within_the_client_s() -> None:
    client = Client("c", "C", "web", "h", ("c",), ("openid", "profile", "offline_access"), True)
    privileged = frozenset({"tokenstile:admin"})
    assert authorize_scope(client, "openid openid profile", privileged) == ("openid", "profile")
    for scope, error in (("profile", "invalid_scope"), ("openid payroll", "invalid_scope")):
        with pytest.raises(AuthorizeError) as refused:
            authorize_scope(client, scope, privileged)
        assert refused.value.code == error
    admin = Client("a", "A", "web", "h", ("a",), ("openid", "tokenstile:admin"), True)
    with pytest.raises(AuthorizeError, match="not granted through the browser"):
        authorize_scope(admin, "openid tokenstile:admin", privileged)
