"""Access tokens: signing keys and the JWKS, JWT issuance and offline verification.

Pure logic over ports (clock, store): nothing here imports the web framework, an HTTP
client library, Qt, the keychain or smart-card stacks. Resource servers need only
:class:`AccessTokenVerifier`, which checks a token against the issuer's JWKS.
"""

from tokenstile.tokens.verifier import AccessTokenVerifier

__all__ = ["AccessTokenVerifier"]
