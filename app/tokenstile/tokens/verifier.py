"""Offline verification of Tokenstile access tokens (RFC 9068 JWTs) for resource servers.

What :class:`AccessTokenVerifier` enforces, following RFC 8725 (JWT best current
practice) and RFC 9068 (JWT profile for access tokens):

* size first: a token over ``max_token_bytes`` is refused before anything is parsed;
* JWS compact form only: three strict base64url parts (no padding, no ``+``/``/``, no
  stray tail bits), header and payload JSON objects;
* the algorithm comes from the key: the header's ``kid`` selects a key from the
  configured JWKS and the header's ``alg`` must equal that key's algorithm. Only
  ES256 (P-256) and EdDSA (Ed25519) keys are loaded; ``none``, HMAC and RSA never
  verify anything;
* nothing in the token locates a key: ``jku``, ``x5u``, ``jwk``, ``x5c`` and ``crit``
  are refused outright;
* ``typ`` must be ``at+jwt`` (RFC 9068 section 4), so an ID token or another JWT
  signed by the same key is not taken for an access token;
* claims: ``iss`` and ``aud`` must match, ``exp``/``iat`` (and ``nbf`` when present)
  are checked with a small leeway, ``sub``, ``jti`` and ``client_id`` must be strings;
* a token bound to a key (``cnf.jkt``, RFC 9449) needs the DPoP proof of the request it
  came with, checked by :class:`~tokenstile.tokens.dpop.DpopVerifier` (signature by the
  bound key, ``htm``, ``htu``, ``iat`` window, ``jti`` replay, ``ath``).

The verification path is written for speed: one key object per ``kid`` made when the
JWKS is loaded, a small cache of already-checked header segments, and one pass over
each part of the token. Keep new work out of :meth:`AccessTokenVerifier.verify` unless
it is a check.
"""

from __future__ import annotations

import binascii
import logging
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from http.client import HTTPException, HTTPMessage
from typing import IO, Any, Final
from urllib.parse import urlsplit

from tokenstile.clock import Clock, SystemClock
from tokenstile.errors import (
    ConfigError,
    ForbiddenHeader,
    InvalidClaim,
    JwksUnavailable,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongTokenType,
)
from tokenstile.protocol.loopback import is_loopback
from tokenstile.tokens.dpop import DpopProofError, DpopVerifier, ReplayCache
from tokenstile.tokens.jose import STRICT_JSON as _JSON
from tokenstile.tokens.jose import JwkFormatError as _JwksFormatError
from tokenstile.tokens.jose import VerifyingKey as _VerifyingKey
from tokenstile.tokens.jose import b64url_strict as _b64url
from tokenstile.tokens.jose import strict_header as _strict_header
from tokenstile.tokens.jose import verifying_key as _public_key

__all__ = ["AccessTokenVerifier"]

logger = logging.getLogger(__name__)

# Header parameters that would let the token choose or carry its own key (RFC 8725
# section 3.10) or demand extensions we do not implement (RFC 7515 section 4.1.11).
_FORBIDDEN_HEADERS: Final = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})
_ALGORITHMS: Final = frozenset({"ES256", "EdDSA"})
_HEADER_CACHE_SIZE: Final = 64
_MAX_JWKS_BYTES: Final = 1 << 20


def _json_object(text: str) -> Any:
    """``json.loads`` for a payload, skipping its whitespace scans when there is none."""
    if text[:1] == "{" and text[-1:] == "}":
        # Starts and ends with a brace: either one object spans the whole text or the
        # text is not JSON at all (what follows the object ends in "}", not whitespace).
        value, end = _JSON.raw_decode(text)
        if end != len(text):
            raise ValueError("extra data after the JSON object")
        return value
    return _JSON.decode(text)


def _show(value: object) -> str:
    """A short printable rendering of an untrusted value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _load_jwks(jwks: object) -> dict[str, _VerifyingKey]:
    """The usable keys of a JWK Set by ``kid``; raise ``JwkFormatError`` if it is no JWK Set."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise _JwksFormatError("not a JWK Set (a JSON object with a 'keys' array)")
    keys: dict[str, _VerifyingKey] = {}
    ambiguous: set[str] = set()
    for jwk in jwks["keys"]:
        if not isinstance(jwk, Mapping):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            logger.debug("JWKS key without a kid ignored")
            continue
        if "d" in jwk or "k" in jwk:
            logger.warning("JWKS key %s carries private material; ignored", _show(kid))
            continue
        try:
            key = _public_key(jwk)
        except (_JwksFormatError, ValueError, UnicodeEncodeError, binascii.Error):
            logger.warning("JWKS key %s is not a valid public key; ignored", _show(kid))
            continue
        if key is None:
            logger.debug("JWKS key %s is not an ES256 or EdDSA signing key; ignored", _show(kid))
            continue
        if kid in keys:
            # Two keys under one kid: refuse to guess which one a token means.
            ambiguous.add(kid)
        keys[kid] = key
    for kid in ambiguous:
        logger.warning("JWKS holds several keys with kid %s; all ignored", _show(kid))
        del keys[kid]
    return keys


def _jwks_url_problem(url: str) -> str | None:
    """Why ``url`` may not serve a JWKS (HTTPS, or plain HTTP on loopback), or ``None``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        return "it is not a valid URL"
    if not host:
        return "it names no host"
    if parts.username is not None or parts.password is not None:
        return "it carries credentials, and a JWKS is public"
    scheme = parts.scheme.lower()
    if scheme == "https" or (scheme == "http" and is_loopback(host)):
        return None
    if scheme == "http":
        return "plain HTTP is only allowed to a loopback address; use https"
    return "only https URLs (or http on loopback) are allowed"


class _JwksRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to an address the JWKS URL itself could have been."""

    def redirect_request(  # noqa: PLR0917 - the signature urllib calls
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        problem = _jwks_url_problem(newurl)
        if problem is not None:
            raise urllib.error.HTTPError(
                req.full_url, code, f"redirect refused: {problem}", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class AccessTokenVerifier:
    """Verifies access tokens offline against a JWKS, for one issuer and audience set.

    ``jwks`` is either a JWK Set (a mapping, fixed for the verifier's life) or the URL
    of one (``https``, or ``http`` on a loopback address). A URL is fetched on first
    use and again when a token names an unknown ``kid``, at most once every
    ``jwks_refetch_interval`` seconds, and when the fetched set is older than
    ``jwks_max_age`` (a failed refetch then keeps the old set, but never longer than
    ``jwks_max_stale``, by default an hour or twice ``jwks_max_age``: past that every
    token is refused as ``JwksUnavailable`` until a fetch succeeds). Each fetch replaces
    the whole set, so a key the issuer withdrew (``rotate-keys --compromised``) stops
    verifying at the next successful fetch: at the latest ``jwks_max_age`` after the
    previous one, sooner when a token of a new key arrives. Safe to share between threads.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Sequence[str],
        jwks: Mapping[str, Any] | str,
        *,
        clock: Clock | None = None,
        leeway: float = 30,
        max_token_bytes: int = 8192,
        jwks_refetch_interval: float = 30.0,
        jwks_timeout: float = 5.0,
        jwks_max_age: float = 300.0,
        jwks_max_stale: float | None = None,
        required_typ: str = "at+jwt",
        dpop_max_age: float = 60.0,
        dpop_max_future: float = 5.0,
        dpop_replay: ReplayCache | None = None,
    ) -> None:
        if not issuer:
            raise ConfigError("The token verifier needs the issuer it trusts.")
        audiences = frozenset([audience] if isinstance(audience, str) else audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ConfigError("The token verifier needs at least one audience (a string).")
        if not (math.isfinite(leeway) and leeway >= 0):
            raise ConfigError("The clock leeway must be a non-negative number of seconds.")
        if max_token_bytes <= 0:
            raise ConfigError("The largest accepted token size must be positive.")
        if not (jwks_refetch_interval >= 0 and jwks_timeout > 0):
            raise ConfigError("The JWKS refetch interval and timeout must be positive.")
        typ = required_typ.lower().removeprefix("application/")
        if not typ:
            raise ConfigError("The required token type must not be empty.")

        self._issuer = issuer
        self._audiences = audiences
        # Checks the proofs that DPoP-bound tokens (cnf.jkt) come with; the replay cache
        # defaults to one in memory, bounded by the proof window.
        self._dpop = DpopVerifier(
            clock=clock, replay=dpop_replay, max_age=dpop_max_age, max_future=dpop_max_future
        )
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._leeway = float(leeway)
        self._max_token_bytes = max_token_bytes
        self._required_typ = typ
        # RFC 7515 section 4.1.9: "application/" may be left out; compare case-insensitively.
        self._accepted_typ = frozenset({typ, "application/" + typ})
        # Header segment -> (kid, alg) for headers that passed every header check.
        self._headers: dict[bytes, tuple[str, str]] = {}

        self._lock = threading.Lock()
        self._jwks_url: str | None = None
        self._jwks_loaded = False
        self._refetch_interval = jwks_refetch_interval
        self._jwks_timeout = jwks_timeout
        self._last_fetch = -math.inf
        # A fetched key set is trusted this long; then it is refetched, so a key the
        # issuer withdrew (after a compromise, say) stops verifying without a restart.
        self._max_age = jwks_max_age
        # ... and if it cannot be refetched, kept at most this long: an issuer that cannot
        # be reached must not keep a withdrawn key trusted forever.
        self._max_stale = _max_stale(jwks_max_age, jwks_max_stale)
        self._fetched_at = -math.inf
        self._opener: urllib.request.OpenerDirector | None = None
        if isinstance(jwks, str):
            problem = _jwks_url_problem(jwks)
            if problem is not None:
                shown = jwks.rpartition("@")[2] if "@" in jwks else jwks  # no credentials
                raise ConfigError(f"The JWKS URL {shown!r} is refused: {problem}.")
            self._jwks_url = jwks
            self._opener = urllib.request.build_opener(_JwksRedirects)
            self._keys: dict[str, _VerifyingKey] = {}
        else:
            try:
                self._keys = _load_jwks(jwks)
            except _JwksFormatError as exc:
                raise ConfigError(
                    f"The JWKS given to the token verifier is invalid: {exc}."
                ) from exc
            if not self._keys:
                raise ConfigError("The JWKS given to the token verifier has no ES256 or EdDSA key.")
            self._jwks_loaded = True

    def verify(
        self,
        token: str,
        *,
        dpop_proof: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> dict[str, Any]:
        """The claims of ``token`` if it is a valid access token for us, else raise.

        A token bound to a key (``cnf.jkt``, RFC 9449) is accepted only with a DPoP proof
        of that key for this request: ``dpop_proof`` (the ``DPoP`` header), ``method``
        and ``url``. A proof sent with an unbound token is not looked at.

        Raises a subclass of :class:`tokenstile.errors.InvalidToken` (a
        :class:`~tokenstile.tokens.dpop.DpopProofError` for a missing or wrong proof), or
        :class:`tokenstile.errors.JwksUnavailable` when the keys cannot be fetched.
        """
        max_bytes = self._max_token_bytes
        if len(token) > max_bytes:
            raise TokenTooLarge(f"The token is longer than the {max_bytes} bytes accepted.")
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            if len(token.encode("utf-8", "surrogatepass")) > max_bytes:
                raise TokenTooLarge(
                    f"The token is longer than the {max_bytes} bytes accepted."
                ) from None
            raise MalformedToken("The token contains characters that are not ASCII.") from None
        parts = raw.split(b".")
        if len(parts) != 3:
            raise MalformedToken(
                "The token is not a signed JWT in compact form "
                "(three base64url parts separated by dots)."
            )
        header_part, payload_part, signature_part = parts

        header = self._headers.get(header_part)
        if header is None:
            header = self._check_header(header_part)
        kid, alg = header
        if self._jwks_url is not None and self._clock.now() - self._fetched_at > self._max_age:
            self._refresh_stale_keys()
        key = self._keys.get(kid)
        if key is None:
            key = self._key_after_refetch(kid)
        if key.alg != alg:
            # RFC 8725 section 3.1: the key decides the algorithm, never the header.
            raise UnsupportedAlgorithm(
                f"The token header says {alg} but its key is an {key.alg} key."
            )

        try:
            signature = _b64url(signature_part)
            payload = _b64url(payload_part)
        except ValueError:
            raise MalformedToken(
                "The token payload or signature is not strict base64url."
            ) from None
        key.verify(signature, raw[: len(header_part) + 1 + len(payload_part)])

        try:
            claims = _json_object(payload.decode("utf-8"))
        except ValueError:
            raise MalformedToken("The token payload is not UTF-8 JSON.") from None
        if type(claims) is not dict:
            raise MalformedToken("The token payload is not a JSON object.")
        self._check_times(claims)
        self._check_parties(claims)
        if "cnf" in claims:
            self._check_binding(token, claims["cnf"], dpop_proof, method, url)
        return claims

    def _check_binding(
        self,
        token: str,
        cnf: object,
        dpop_proof: str | None,
        method: str | None,
        url: str | None,
    ) -> None:
        """RFC 9449 section 7.1: a DPoP-bound token needs a proof by its key."""
        jkt = cnf.get("jkt") if type(cnf) is dict else None
        if type(jkt) is not str or not jkt:
            raise InvalidClaim(
                "cnf", "The token is bound to a key in a way this verifier cannot check."
            )
        if not dpop_proof:
            raise DpopProofError(
                "The token is bound to a key (DPoP): it is accepted only with a DPoP proof."
            )
        if not method or not url:
            raise ConfigError("Checking a DPoP-bound token needs the request's method and URL.")
        self._dpop.verify(dpop_proof, method=method, url=url, access_token=token, jkt=jkt)

    def _check_times(self, claims: dict[str, Any]) -> None:
        """``exp`` and ``iat`` are required, ``nbf`` optional (RFC 9068 section 2.2)."""
        now = self._clock.now()
        leeway = self._leeway
        exp: Any = claims.get("exp")
        kind = type(exp)
        if kind is not int and (kind is not float or not math.isfinite(exp)):
            raise _claim_problem("exp", exp, "a number")
        # Compare without arithmetic on the claim: a huge integer cannot overflow.
        if exp <= now - leeway:
            raise TokenExpired("The token has expired.")
        iat: Any = claims.get("iat")
        kind = type(iat)
        if kind is not int and (kind is not float or not math.isfinite(iat)):
            raise _claim_problem("iat", iat, "a number")
        if iat > now + leeway:
            raise TokenNotYetValid("The token says it was issued in the future.")
        if "nbf" in claims:
            nbf: Any = claims["nbf"]
            kind = type(nbf)
            if kind is not int and (kind is not float or not math.isfinite(nbf)):
                raise _claim_problem("nbf", nbf, "a number")
            if nbf > now + leeway:
                raise TokenNotYetValid("The token is not valid yet.")

    def _check_parties(self, claims: dict[str, Any]) -> None:
        """Issuer, audience (RFC 8725 sections 3.8-3.9) and who the token is for."""
        iss = claims.get("iss")
        if iss != self._issuer:
            if type(iss) is str:
                raise InvalidClaim("iss", "The token was issued by an issuer we do not trust.")
            raise _claim_problem("iss", iss, "a string")
        aud = claims.get("aud")
        if type(aud) is str:
            if aud not in self._audiences:
                raise InvalidClaim("aud", "The token is meant for another audience.")
        elif type(aud) is list:
            if not all(type(a) is str for a in aud):
                raise InvalidClaim(
                    "aud", "The token's 'aud' claim holds a value that is not a string."
                )
            if self._audiences.isdisjoint(aud):
                raise InvalidClaim("aud", "The token is meant for another audience.")
        else:
            raise _claim_problem("aud", aud, "a string or a list of strings")
        for name in ("sub", "client_id", "jti"):
            value = claims.get(name)
            if type(value) is not str or not value:
                raise _claim_problem(name, value, "a non-empty string")

    def _check_header(self, part: bytes) -> tuple[str, str]:
        """Check a header segment not seen before; cache and return its (kid, alg)."""
        try:
            header = _strict_header(part)
        except ValueError:
            raise MalformedToken("The token header is not base64url-encoded JSON.") from None
        if type(header) is not dict:
            raise MalformedToken("The token header is not a JSON object.")
        forbidden = _FORBIDDEN_HEADERS.intersection(header)
        if forbidden:
            raise ForbiddenHeader(
                f"The token header carries {', '.join(sorted(forbidden))}: tokens may not "
                "name or carry their own keys or critical extensions."
            )
        alg = header.get("alg")
        if alg not in _ALGORITHMS:
            raise UnsupportedAlgorithm(
                f"The token is signed with algorithm {_show(alg)}; only ES256 and EdDSA "
                "are accepted."
            )
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in self._accepted_typ:
            raise WrongTokenType(
                f"The token type is {_show(typ)}, not {self._required_typ!r}: "
                "it is not an access token."
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise UnknownKey("The token header does not name its signing key (kid).")
        headers = self._headers
        if len(headers) >= _HEADER_CACHE_SIZE:
            headers.clear()
        headers[part] = (kid, alg)
        return kid, alg

    def _key_after_refetch(self, kid: str) -> _VerifyingKey:
        """The key for a ``kid`` not in the key set, after refetching the JWKS if allowed."""
        if self._jwks_url is None:
            raise UnknownKey(f"The token is signed with an unknown key {_show(kid)}.")
        with self._lock:
            key = self._keys.get(kid)  # another thread may have fetched it meanwhile
            if key is not None:
                return key
            now = self._clock.now()
            if now - self._last_fetch < self._refetch_interval:
                if not self._jwks_loaded:
                    raise JwksUnavailable(
                        "The signing keys could not be fetched; trying again shortly."
                    )
                raise UnknownKey(f"The token is signed with an unknown key {_show(kid)}.")
            self._last_fetch = now
            self._keys = self._fetch_jwks(self._jwks_url)
            self._jwks_loaded = True
            self._fetched_at = now
            key = self._keys.get(kid)
        if key is None:
            raise UnknownKey(f"The token is signed with an unknown key {_show(kid)}.")
        return key

    def _refresh_stale_keys(self) -> None:
        """Refetch a key set older than ``jwks_max_age``; on failure keep the old one,
        until it is older than ``jwks_max_stale``."""
        assert self._jwks_url is not None  # noqa: S101
        with self._lock:
            now = self._clock.now()
            if not self._jwks_loaded or now - self._fetched_at <= self._max_age:
                return  # never loaded (the unknown-kid path fetches) or another thread did
            if now - self._fetched_at > self._max_stale:
                logger.warning(
                    "The signing keys could not be refreshed for %d s; refusing every token "
                    "until the JWKS can be fetched again",
                    int(now - self._fetched_at),
                )
                self._keys = {}
                self._jwks_loaded = False  # the unknown-kid path refetches, rate-limited
                return
            if now - self._last_fetch < self._refetch_interval:
                return
            self._last_fetch = now
            try:
                self._keys = self._fetch_jwks(self._jwks_url)
            except JwksUnavailable as exc:
                logger.warning("Keeping the cached signing keys: %s", exc.message)
                return
            self._fetched_at = now

    def _fetch_jwks(self, url: str) -> dict[str, _VerifyingKey]:
        assert self._opener is not None  # noqa: S101 - set together with the URL
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked in __init__
        try:
            with self._opener.open(request, timeout=self._jwks_timeout) as response:
                body = response.read(_MAX_JWKS_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise JwksUnavailable(
                f"The signing keys could not be fetched from {url}: HTTP {exc.code} {exc.reason}."
            ) from exc
        except (OSError, HTTPException, ValueError) as exc:
            raise JwksUnavailable(
                f"The signing keys could not be fetched from {url}: {exc}."
            ) from exc
        if len(body) > _MAX_JWKS_BYTES:
            raise JwksUnavailable(f"The JWKS at {url} is larger than {_MAX_JWKS_BYTES} bytes.")
        try:
            keys = _load_jwks(_JSON.decode(body.decode("utf-8")))
        except (_JwksFormatError, ValueError) as exc:
            raise JwksUnavailable(f"The document at {url} is not a valid JWKS: {exc}.") from exc
        logger.info("Loaded %d signing keys from %s", len(keys), url)
        return keys


def _max_stale(max_age: float, max_stale: float | None) -> float:
    """How long a key set that cannot be refetched is kept (default: an hour, or twice
    the max age when that is longer)."""
    if max_stale is None:
        return max(3600.0, 2 * max_age)
    if not max_stale >= max_age:
        raise ConfigError("The JWKS max stale time must be at least its max age.")
    return max_stale


def _claim_problem(name: str, value: object, expected: str) -> InvalidClaim:
    if value is None:
        return InvalidClaim(name, f"The token has no '{name}' claim.")
    return InvalidClaim(name, f"The token's '{name}' claim is not {expected}.")
