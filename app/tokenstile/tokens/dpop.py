"""DPoP (RFC 9449): proofs of possession of a key, made by clients and checked by servers.

A client holds a key pair. With every request that obtains or uses a DPoP-bound token it
sends a *proof*: a JWT (``typ: dpop+jwt``) carrying its public key in the ``jwk`` header
and, in its claims, the request's method (``htm``) and URL (``htu``), a time (``iat``), a
unique ``jti``, and ``ath`` (the SHA-256 of the access token) when it presents one. The
token service binds the tokens it issues to the key's RFC 7638 thumbprint (``cnf.jkt``);
whoever receives a bound token checks that the proof comes with it, signed by that key.

:class:`DpopVerifier` implements the checks of RFC 9449 section 4.3 (and 7.1 for ``ath``):

* size first, then JWS compact form with strict base64url and strict JSON;
* ``typ`` is ``dpop+jwt``; ``alg`` is ES256 or EdDSA (never ``none`` or an HMAC) and must
  be the algorithm of the ``jwk`` (EC P-256 or OKP Ed25519); a ``jwk`` carrying private
  key material, and ``crit``, are refused;
* the signature verifies with the ``jwk``;
* ``htm`` equals the method; ``htu`` equals the URL compared on scheme, host, port and
  path (query and fragment ignored, RFC 9449 section 4.3 check 9);
* ``iat`` lies within ``max_age`` seconds in the past and ``max_future`` in the future;
* ``jti`` is a string of sensible length, not seen before for this key (a
  :class:`ReplayCache`: bounded in memory here, in the database at the token service);
* ``ath`` matches when an access token is presented; the thumbprint matches the one the
  token is bound to when the caller says which.

Proof making (what the broker does) lives in :mod:`tokenstile.protocol.dpop`, with the
``typ`` and the ``ath`` hash both sides share.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from tokenstile.clock import Clock, SystemClock
from tokenstile.errors import BadSignature, ConfigError, InvalidToken
from tokenstile.protocol.dpop import DPOP_TYP, access_token_hash
from tokenstile.protocol.jose import jwk_thumbprint
from tokenstile.tokens.jose import (
    STRICT_JSON,
    JwkFormatError,
    VerifyingKey,
    b64url_strict,
    strict_header,
    verifying_key,
)

__all__ = [
    "DPOP_ALGORITHMS",
    "DpopProof",
    "DpopProofError",
    "DpopVerifier",
    "MemoryReplayCache",
    "ReplayCache",
    "check_token_binding",
    "normalize_htu",
]

DPOP_ALGORITHMS: Final = ("ES256", "EdDSA")
MAX_PROOF_BYTES: Final = 4096
MIN_JTI_CHARS: Final = 12
MAX_JTI_CHARS: Final = 256
DEFAULT_MAX_AGE: Final = 60.0
DEFAULT_MAX_FUTURE: Final = 5.0
# Members of a JWK that hold private key material (RFC 7518 section 6).
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_HEADER_CACHE_SIZE: Final = 256


class DpopProofError(InvalidToken):
    """A DPoP proof is missing, malformed, or does not fit the request or the token.

    An ``InvalidToken`` (a resource server that catches those refuses the request), and
    so an ``OAuthError``: the token endpoint answers RFC 9449's ``invalid_dpop_proof``, 400.
    """

    code = "invalid_dpop_proof"
    status = 400


class ReplayCache(Protocol):
    def remember(self, key: bytes, *, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``; False when it is already recorded (a replay)."""
        ...


class MemoryReplayCache:
    """A bounded in-memory replay cache for one process (a resource server's verifier).

    Entries leave when they expire. When ``max_entries`` unexpired proofs are held, the
    oldest is forgotten so the service stays up; at the default window that takes more
    than 1,500 proofs a second, each one valid (signed, for a live bound token).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries <= 0:
            raise ConfigError("The DPoP replay cache must hold at least one entry.")
        self._max = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, key: bytes, *, expires_at: float, now: float) -> bool:
        seen = self._seen
        with self._lock:
            # Roughly in expiry order (insertion order): drop expired ones from the front.
            while seen:
                oldest = next(iter(seen))
                if seen[oldest] > now:
                    break
                del seen[oldest]
            known = seen.get(key)
            if known is not None and known > now:
                return False
            while len(seen) >= self._max:
                seen.popitem(last=False)
            seen[key] = expires_at
            return True


@dataclass(frozen=True, slots=True, kw_only=True)
class DpopProof:
    """A proof that passed every check."""

    jkt: str
    jti: str
    htm: str
    htu: str
    iat: float
    jwk: dict[str, Any]
    nonce: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _ProofKey:
    key: VerifyingKey
    jkt: str
    jwk: dict[str, Any]


def normalize_htu(url: str) -> str | None:
    """``scheme://host[:port]/path`` of an http(s) URL (no query, no fragment), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname  # lower-cased by urlsplit
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def _problem(text: str) -> DpopProofError:
    return DpopProofError(f"The DPoP proof {text}.")


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


class DpopVerifier:
    """Checks DPoP proofs against a request (and the access token presented with it)."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        replay: ReplayCache | None = None,
        max_age: float = DEFAULT_MAX_AGE,
        max_future: float = DEFAULT_MAX_FUTURE,
        algorithms: Sequence[str] = DPOP_ALGORITHMS,
        max_proof_bytes: int = MAX_PROOF_BYTES,
    ) -> None:
        unknown = set(algorithms) - set(DPOP_ALGORITHMS)
        if unknown or not algorithms:
            raise ConfigError("DPoP proofs can be checked for ES256 and EdDSA only.")
        if not (math.isfinite(max_age) and max_age > 0 and math.isfinite(max_future)):
            raise ConfigError("The DPoP proof window must be a positive number of seconds.")
        if max_future < 0 or max_proof_bytes <= 0:
            raise ConfigError("The DPoP proof limits must not be negative.")
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._replay: ReplayCache = replay if replay is not None else MemoryReplayCache()
        self._max_age = float(max_age)
        self._max_future = float(max_future)
        self._algorithms = frozenset(algorithms)
        self._max_bytes = max_proof_bytes
        # Header segment -> its checked key, for headers that passed every header check.
        self._headers: dict[bytes, _ProofKey] = {}

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(a for a in DPOP_ALGORITHMS if a in self._algorithms)

    def verify(
        self,
        proof: str,
        *,
        method: str,
        url: str | Sequence[str],
        access_token: str | None = None,
        jkt: str | None = None,
    ) -> DpopProof:
        """The checked proof, or raise :class:`DpopProofError`.

        ``url`` may name several spellings of this endpoint (the issuer's public URL and
        the URL the request arrived at); the proof's ``htu`` must be one of them.
        ``jkt``: the thumbprint the presented token is bound to. The ``jti`` is recorded
        only once everything else passed.
        """
        header_part, claims, signed, signature = self._parse(proof)
        known = self._headers.get(header_part)
        if known is None:
            known = self._check_header(header_part)
        try:
            known.key.verify(signature, signed)
        except BadSignature:
            raise _problem("signature does not verify") from None
        thumbprint = known.jkt
        if jkt is not None and thumbprint != jkt:
            raise _problem("is signed by another key than the one the token is bound to")
        self._check_claims(claims, method=method, url=url, access_token=access_token)
        now = self._clock.now()
        iat = float(claims["iat"])
        jti: str = claims["jti"]
        replay_key = hashlib.sha256(f"{thumbprint}\x00{jti}".encode()).digest()
        expires_at = max(iat, now) + self._max_age + self._max_future
        if not self._replay.remember(replay_key, expires_at=expires_at, now=now):
            raise _problem("was used before (its jti is not new)")
        nonce = claims.get("nonce")
        return DpopProof(
            jkt=thumbprint,
            jti=jti,
            htm=claims["htm"],
            htu=claims["htu"],
            iat=iat,
            jwk=dict(known.jwk),
            nonce=nonce if isinstance(nonce, str) else None,
        )

    def _parse(self, proof: str) -> tuple[bytes, dict[str, Any], bytes, bytes]:
        """(header segment, claims, signing input, signature) of a well-formed JWS."""
        if not isinstance(proof, str) or not proof:
            raise _problem("is empty")
        if len(proof) > self._max_bytes:
            raise _problem(f"is longer than the {self._max_bytes} bytes accepted")
        try:
            raw = proof.encode("ascii")
        except UnicodeEncodeError:
            raise _problem("contains characters that are not ASCII") from None
        parts = raw.split(b".")
        if len(parts) != 3:
            raise _problem("is not a signed JWT in compact form")
        header_part, payload_part, signature_part = parts
        try:
            if header_part not in self._headers and type(strict_header(header_part)) is not dict:
                raise _problem("header or payload is not a JSON object")
            claims = STRICT_JSON.decode(b64url_strict(payload_part).decode("utf-8"))
        except (ValueError, RecursionError):
            raise _problem("is not base64url-encoded JSON") from None
        try:
            signature = b64url_strict(signature_part)
        except ValueError:
            raise _problem("signature is not base64url") from None
        if type(claims) is not dict:
            raise _problem("header or payload is not a JSON object")
        return header_part, claims, raw[: len(header_part) + 1 + len(payload_part)], signature

    def _check_header(self, header_part: bytes) -> _ProofKey:
        """Check a header segment not seen before; cache and return its key.

        A client sends the same header (its key) with every proof: the JSON, the key's
        point and its thumbprint are worked out once.
        """
        header = strict_header(header_part)  # decodes: _parse tried it
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != DPOP_TYP:
            raise _problem(f"has type {typ!r:.40}, not {DPOP_TYP!r}")
        alg = header.get("alg")
        if alg not in self._algorithms:
            accepted = " or ".join(self.algorithms)
            raise _problem(f"is signed with {alg!r:.40}; only {accepted} are accepted")
        if "crit" in header:
            raise _problem("names critical extensions this server does not implement")
        key_jwk = header.get("jwk")
        if type(key_jwk) is not dict:
            raise _problem("has no jwk header holding its public key")
        if _PRIVATE_MEMBERS.intersection(key_jwk):
            raise _problem("jwk carries private key material")
        try:
            key = verifying_key(key_jwk)
        except (JwkFormatError, ValueError, UnicodeEncodeError):
            raise _problem("carries a jwk that is not a valid public key") from None
        if key is None or key.alg != alg:
            raise _problem(f"says {alg} but its jwk is not a key for {alg}")
        known = _ProofKey(key=key, jkt=jwk_thumbprint(key_jwk), jwk=key_jwk)
        headers = self._headers
        if len(headers) >= _HEADER_CACHE_SIZE:
            headers.clear()
        headers[header_part] = known
        return known

    def _check_claims(
        self,
        claims: dict[str, Any],
        *,
        method: str,
        url: str | Sequence[str],
        access_token: str | None,
    ) -> None:
        jti = claims.get("jti")
        if type(jti) is not str or not MIN_JTI_CHARS <= len(jti) <= MAX_JTI_CHARS:
            raise _problem(
                f"needs a jti of {MIN_JTI_CHARS} to {MAX_JTI_CHARS} characters (a random id)"
            )
        htm = claims.get("htm")
        if type(htm) is not str or htm != method:
            raise _problem(f"is for another HTTP method than {method}")
        htu = claims.get("htu")
        wanted = {url} if isinstance(url, str) else set(url)
        targets = {normalize_htu(u) for u in wanted} - {None}
        if type(htu) is not str or normalize_htu(htu) not in targets:
            raise _problem("is for another URL than this endpoint")
        iat: Any = claims.get("iat")
        if not _is_number(iat):
            raise _problem("has no iat time (a number)")
        now = self._clock.now()
        if iat < now - self._max_age:
            raise _problem("is too old; make a fresh one for each request")
        if iat > now + self._max_future:
            raise _problem("was made in the future; check the client's clock")
        if access_token is not None:
            ath = claims.get("ath")
            if type(ath) is not str:
                raise _problem("has no ath claim for the access token it comes with")
            if not secrets.compare_digest(ath, access_token_hash(access_token)):
                raise _problem("is for another access token (ath does not match)")


def check_token_binding(claims: Mapping[str, Any], proven_jkt: str | None) -> None:
    """RFC 9449 section 7.1 for the issuer's own routes that accept its access tokens.

    ``proven_jkt``: the key thumbprint of the checked proof that came with the token under
    the ``DPoP`` scheme, or None when it came as ``Bearer``. A key-bound token needs its
    own key; an unbound one must not come under the DPoP scheme.
    """
    cnf = claims.get("cnf")
    bound = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    if bound == proven_jkt:
        return
    if bound is None:
        raise DpopProofError("The access token is not DPoP-bound; send it as Bearer.")
    if proven_jkt is None:
        raise DpopProofError(
            "The access token is bound to a DPoP key: send it with the DPoP scheme and a proof."
        )
    raise DpopProofError("The DPoP proof is not made with the key the token is bound to.")
