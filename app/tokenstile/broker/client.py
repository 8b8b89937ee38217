"""The HTTP client of the token service: logins, refresh, exchange, revocation, admin API.

Blocking (httpx); one client may serve several threads (httpx's pool is thread-safe).
Every token-issuing request carries a DPoP proof when the client holds a DPoP key, and
so does every request with an access token (userinfo, the admin API: RFC 9449 section 7).
A confidential client (``client_secret``) authenticates at ``/token`` and ``/revoke``
with HTTP Basic (RFC 6749 section 2.3.1).
The server's OAuth errors come back as :class:`LoginRefused` (a login) or
:class:`TokenRefused` (refresh, exchange, revocation) with the server's sentence;
no answer at all is :class:`ServerUnreachable`.

Logins with a device are two HTTP steps each, and the device's part runs between them in
:mod:`tokenstile.devices` (which this package never imports):
:meth:`TokenServiceClient.webauthn_login_steps` for ``devices.key_ceremonies.login_with_key``,
:meth:`TokenServiceClient.piv_login_steps` for ``devices.piv_login.login_with_card``.
Errors of the devices pass through them unchanged.

A remote server is spoken to over HTTPS only; plain HTTP is allowed on loopback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote_plus, urlsplit

import httpx

from tokenstile import __version__
from tokenstile.broker.closing import Closing
from tokenstile.broker.errors import (
    BrokerError,
    LoginRefused,
    ServerRefusal,
    ServerUnreachable,
    ServiceError,
    TapRefused,
    TokenRefused,
)
from tokenstile.broker.model import TokenGrant
from tokenstile.broker.origin import webauthn_origin
from tokenstile.errors import ConfigError, TokenstileError
from tokenstile.protocol.jose import b64url_decode, b64url_encode
from tokenstile.protocol.loopback import is_loopback
from tokenstile.protocol.piv_message import PivChallenge

if TYPE_CHECKING:
    from tokenstile.broker.dpop import DpopKey

DEFAULT_CLIENT_ID: Final = "tokenstile-kiosk"  # deployment.DEFAULT_KIOSK_CLIENT_ID
GRANT_REFRESH: Final = "refresh_token"
GRANT_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPE_ACCESS: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
_ERROR_BODY_LIMIT: Final = 300


class ServerAnswer(TokenstileError):
    """An OAuth error answer, before it becomes a ``LoginRefused`` or ``TokenRefused``."""

    code = "server_answer"

    def __init__(
        self, status: int, error: str, description: str, retry_after: float | None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.retry_after = retry_after

    def refusal(self, kind: type[ServerRefusal]) -> ServerRefusal:
        """The answer as a ``LoginRefused`` or ``TokenRefused``: the server's sentence."""
        return kind(
            _sentence(self.description), oauth_error=self.error, retry_after=self.retry_after
        )

    def service_error(self) -> ServiceError:
        """The answer of an admin (or other non-OAuth) call as a ``ServiceError``."""
        return ServiceError(_sentence(self.description), status=self.status, error=self.error)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginOptions:
    """What ``GET /login/factors`` says: the factors people are enrolled for here, and
    the WebAuthn RP ID security-key logins use (None when the server does not say)."""

    factors: tuple[str, ...]
    webauthn_rp_id: str | None


def check_server_url(server: str) -> str:
    """``server`` without a trailing slash; ``ConfigError`` unless HTTPS or loopback HTTP."""
    parts = urlsplit(server.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment:
        raise ConfigError(f"{server!r} is not a token service URL (https://host[:port]).")
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(
            f"The token service {host} must be reached over HTTPS; plain HTTP is only "
            "allowed on this machine (loopback)."
        )
    return server.strip().rstrip("/")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class TokenServiceClient(Closing):
    """One token service, one client id."""

    def __init__(
        self,
        server: str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        dpop_key: DpopKey | None = None,
        verify: bool | str = True,
        client_secret: str | None = None,
    ) -> None:
        self.server = check_server_url(server)
        self.client_id = client_id
        self.dpop_key = dpop_key
        # RFC 6749 section 2.3.1: each part form-urlencoded before the Basic encoding.
        self._client_auth = (
            httpx.BasicAuth(quote_plus(client_id), quote_plus(client_secret))
            if client_secret
            else None
        )
        self._http = httpx.Client(
            base_url=self.server,
            transport=transport,
            timeout=timeout,
            verify=verify,
            headers={"User-Agent": f"tokenstile-broker/{__version__}"},
            follow_redirects=False,
        )

    # -- the plumbing ------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.server}{path}"

    def _send(
        self,
        method: str,
        path: str,
        *,
        proof: bool = False,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request (a second one when the server asks for a DPoP nonce)."""
        nonce: str | None = None
        for _ in range(2):
            sent = dict(headers or {})
            if proof and self.dpop_key is not None:
                sent["DPoP"] = self.dpop_key.proof(method, self._url(path), nonce=nonce)
            extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
            try:
                response = self._http.request(method, path, headers=sent, **kwargs, **extra)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise ServerUnreachable(
                    f"The token service at {self.server} cannot be reached ({_why(exc)})."
                ) from exc
            except httpx.TransportError as exc:
                # The request may have arrived: the caller decides whether to retry.
                error = ServerUnreachable(
                    f"The token service at {self.server} did not answer ({_why(exc)})."
                )
                error.maybe_delivered = True
                raise error from exc
            fresh_nonce = response.headers.get("dpop-nonce")
            if (
                proof
                and nonce is None
                and fresh_nonce
                and response.status_code in (400, 401)
                and _error_of(response) == "use_dpop_nonce"
            ):
                nonce = fresh_nonce
                continue
            return response
        return response

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 500:
            body = _error_body(response)
            text = body[1] if body else f"status {response.status_code}"
            raise ServerUnreachable(
                f"The token service at {self.server} is not working right now ({text})."
            )
        if response.status_code >= 400:
            body = _error_body(response)
            error, description = body or ("http_error", f"status {response.status_code}")
            raise ServerAnswer(response.status_code, error, description, _retry_after(response))
        try:
            return response.json()
        except ValueError as exc:
            raise BrokerError(
                f"The token service at {self.server} answered something that is not JSON."
            ) from exc

    def _grant(self, response: httpx.Response, refusal: type[LoginRefused | TokenRefused]) -> Any:
        try:
            body = self._json(response)
        except ServerAnswer as answer:
            raise answer.refusal(refusal) from None
        try:
            return TokenGrant.from_json(body if isinstance(body, dict) else {})
        except ValueError as exc:
            raise BrokerError(
                f"The token service at {self.server} answered a token response that "
                f"cannot be used ({exc})."
            ) from exc

    # -- logins ------------------------------------------------------------------------

    def login_options(self) -> LoginOptions:
        """``GET /login/factors`` in one call: the factors and the WebAuthn RP ID."""
        try:
            body = self._json(self._send("GET", "/login/factors"))
        except ServerAnswer as answer:
            raise answer.service_error() from None
        factors = body.get("factors") if isinstance(body, dict) else None
        if not isinstance(factors, list):
            raise BrokerError("The token service did not list its factors.")
        rp_id = body.get("webauthn_rp_id")
        return LoginOptions(
            factors=tuple(str(f) for f in factors),
            webauthn_rp_id=rp_id if isinstance(rp_id, str) and rp_id else None,
        )

    def factors(self) -> list[str]:
        """The factors this deployment has people enrolled for (``GET /login/factors``)."""
        return list(self.login_options().factors)

    def webauthn_rp_id(self) -> str | None:
        """The RP ID the server *announces* for security-key logins (``/login/factors``),
        or None. Never use it as the origin: :meth:`webauthn_origin` decides that."""
        try:
            return self.login_options().webauthn_rp_id
        except BrokerError:
            return None

    def webauthn_origin(
        self, pinned_rp_id: str | None = None, *, announced: LoginOptions | None = None
    ) -> tuple[str, str]:
        """``(rp_id, origin)`` for a security-key login here, decided from this client's
        server URL (and ``pinned_rp_id``) by :func:`~tokenstile.broker.origin.webauthn_origin`;
        the server's announcement (``announced``, else ``/login/factors`` now) is only
        checked against it. ``OriginMismatch`` when it does not belong."""
        options = announced if announced is not None else self._login_options_quietly()
        said = options.webauthn_rp_id if options is not None else None
        return webauthn_origin(self.server, said, pinned_rp_id)

    def _login_options_quietly(self) -> LoginOptions | None:
        try:
            return self.login_options()
        except BrokerError:
            return None

    def login_totp(self, username: str, code: str) -> TokenGrant:
        body = {"username": username, "code": code, "client_id": self.client_id}
        grant: TokenGrant = self._grant(
            self._send("POST", "/login/totp", proof=True, json=body), LoginRefused
        )
        return grant

    def login_tap_totp(self, code: str) -> TokenGrant:
        """The fob tap of tap-and-go (``POST /login/tap/totp``): a code without the
        username, which the service checks only against the fobs of the people on shift
        at this kiosk's group."""
        body = {"code": code, "client_id": self.client_id}
        grant: TokenGrant = self._grant(
            self._send("POST", "/login/tap/totp", proof=True, json=body), TapRefused
        )
        return grant

    def login_tac(self, username: str, code: str) -> TokenGrant:
        """Sign in with a temporary access code a helpdesk person issued (acr ``tac``)."""
        body = {"username": username, "code": code, "client_id": self.client_id}
        grant: TokenGrant = self._grant(
            self._send("POST", "/login/tac", proof=True, json=body), LoginRefused
        )
        return grant

    def webauthn_login_steps(
        self, *, confirm: Mapping[str, Any] | None = None
    ) -> WebAuthnLoginSteps:
        """The two HTTP steps of a usernameless security-key login, for
        ``devices.key_ceremonies.login_with_key``; its answer is a :class:`TokenGrant`.
        With ``confirm`` (the login body's ``confirm`` member) the answer is a confirm
        token instead: a grant without a refresh token, and no session."""
        return WebAuthnLoginSteps(self, confirm=confirm)

    def tap_login_steps(self) -> TapLoginSteps | None:
        """Tap-and-go (``POST /login/tap/options``): the steps of a security-key tap, a
        touch without PIN that the service accepts only inside the person's open shift at
        this kiosk's group; None when the service says this kiosk takes no taps (or is a
        service without the route)."""
        body = {"client_id": self.client_id}
        try:
            answer = self._json(self._send("POST", "/login/tap/options", json=body))
        except ServerAnswer as answer_error:
            if answer_error.status == 404:
                return None
            raise answer_error.refusal(LoginRefused) from None
        if not isinstance(answer, dict) or answer.get("tap_and_go") is not True:
            return None
        if not isinstance(answer.get("publicKey"), dict):
            raise BrokerError("The token service sent no options for a tap.")
        return TapLoginSteps(self, answer)

    def card_tap_steps(self) -> PivLoginSteps:
        """The two HTTP steps of a card tap (``/login/tap/piv/challenge``,
        ``/login/tap/piv``: the card's 9E key, no PIN), for
        ``devices.piv_login.tap_with_card``; its answer is a :class:`TokenGrant`."""
        return PivLoginSteps(self, tap=True)

    def piv_login_steps(self, *, confirm: Mapping[str, Any] | None = None) -> PivLoginSteps:
        """The two HTTP steps of a card login, for ``devices.piv_login.login_with_card``;
        its answer is a :class:`TokenGrant` (``confirm``: as for a security key)."""
        return PivLoginSteps(self, confirm=confirm)

    # -- tokens --------------------------------------------------------------------------

    def refresh(self, refresh_token: str, *, timeout: float | None = None) -> TokenGrant:
        form = {
            "grant_type": GRANT_REFRESH,
            "refresh_token": refresh_token,
            "client_id": self.client_id,
        }
        return self._token_request(form, timeout)

    def exchange(
        self,
        subject_token: str,
        *,
        audience: str,
        scope: str | None = None,
        timeout: float | None = None,
    ) -> TokenGrant:
        """RFC 8693: a token for ``audience`` (narrowed to ``scope``) from the session's."""
        form = {
            "grant_type": GRANT_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": TOKEN_TYPE_ACCESS,
            "requested_token_type": TOKEN_TYPE_ACCESS,
            "audience": audience,
            "client_id": self.client_id,
        }
        if scope:
            form["scope"] = scope
        return self._token_request(form, timeout)

    def _token_request(self, form: Mapping[str, str], timeout: float | None) -> TokenGrant:
        response = self._send(
            "POST", "/token", proof=True, data=dict(form), timeout=timeout, auth=self._client_auth
        )
        grant: TokenGrant = self._grant(response, TokenRefused)
        return grant

    def park(self, refresh_token: str) -> float:
        """``POST /session/park`` (``tokens.parking``): the session's deadline."""
        form = {"refresh_token": refresh_token, "client_id": self.client_id}
        response = self._send(
            "POST", "/session/park", proof=True, data=form, auth=self._client_auth
        )
        try:
            body = self._json(response)
        except ServerAnswer as answer:
            raise answer.refusal(TokenRefused) from None
        until = body.get("parked_until") if isinstance(body, dict) else None
        if isinstance(until, bool) or not isinstance(until, int | float):
            raise BrokerError(f"The token service at {self.server} did not say the deadline.")
        return float(until)

    def resume(self, refresh_token: str, proof_token: str) -> TokenGrant:
        """``POST /session/resume``: the parked session's new tokens, for the refresh token
        of a fresh sign-in of the same person (which the service ends)."""
        form = {
            "refresh_token": refresh_token,
            "proof_token": proof_token,
            "client_id": self.client_id,
        }
        response = self._send(
            "POST", "/session/resume", proof=True, data=form, auth=self._client_auth
        )
        grant: TokenGrant = self._grant(response, TokenRefused)
        return grant

    def revoke(self, token: str, *, hint: str = "refresh_token") -> None:
        form = {"token": token, "token_type_hint": hint, "client_id": self.client_id}
        response = self._send("POST", "/revoke", data=form, auth=self._client_auth)
        if response.is_success:
            return
        try:
            self._json(response)
        except ServerAnswer as answer:
            raise answer.refusal(TokenRefused) from None

    def confirm_cancelled(self, confirm: Mapping[str, Any]) -> None:
        """Tell the service the person closed a confirm prompt (it writes the audit row);
        ``confirm`` is the login body's ``confirm`` member, with the session token."""
        response = self._send(
            "POST", "/login/confirm/cancelled", proof=True, json={"confirm": dict(confirm)}
        )
        if response.is_success:
            return
        try:
            self._json(response)
        except ServerAnswer as answer:
            raise answer.refusal(LoginRefused) from None

    def end_shift(self, refresh_token: str) -> bool:
        """Sign-out at the end of a shift (tap-and-go, ``POST /logout/shift``): the service
        ends the session and the person's shift at this kiosk's group. Whether a shift
        was open; ``TokenRefused`` when the service refuses the token."""
        body = {"refresh_token": refresh_token, "client_id": self.client_id}
        try:
            answer = self._json(self._send("POST", "/logout/shift", json=body))
        except ServerAnswer as refused:
            raise refused.refusal(TokenRefused) from None
        return isinstance(answer, dict) and answer.get("shift_ended") is True

    # -- calls with an access token: userinfo, the admin API --------------------------

    def _authorization(self, method: str, path: str, access_token: str) -> dict[str, str]:
        """``Authorization`` for ``access_token``: ``DPoP`` with a proof of this client's
        key (``ath`` included) when it holds one, else ``Bearer``."""
        if self.dpop_key is None:
            return {"Authorization": f"Bearer {access_token}"}
        return {
            "Authorization": f"DPoP {access_token}",
            "DPoP": self.dpop_key.proof(method, self._url(path), access_token=access_token),
        }

    def _with_token(self, method: str, path: str, access_token: str, **kwargs: Any) -> Any:
        response = self._send(
            method, path, headers=self._authorization(method, path, access_token), **kwargs
        )
        try:
            return self._json(response)
        except ServerAnswer as answer:
            raise answer.service_error() from None

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """What ``/userinfo`` says about the person behind ``access_token``."""
        body = self._with_token("GET", "/userinfo", access_token)
        if not isinstance(body, dict):
            raise BrokerError("The token service answered userinfo with something odd.")
        return body

    def offline_lease(self, access_token: str) -> str:
        """``/kiosk/offline-lease`` for the signed-in session ``access_token``: the lease
        (a JWS, unread: :class:`tokenstile.broker.offline.LeaseKeeper` checks it)."""
        body = self._with_token("POST", "/kiosk/offline-lease", access_token)
        lease = body.get("lease") if isinstance(body, dict) else None
        if not isinstance(lease, str):
            raise BrokerError("The token service answered the offline lease with something odd.")
        return lease

    def exchange_offline(
        self,
        factor: str,
        evidence: Mapping[str, Any],
        events: Sequence[Mapping[str, Any]] = (),
    ) -> TokenGrant:
        """``/kiosk/offline-session``: an offline sign-in's evidence (the key's answer, or
        the card's challenge, signature and certificate) for a real session; the kiosk's
        audit rows from offline come along."""
        body = {
            "client_id": self.client_id,
            "factor": factor,
            "evidence": dict(evidence),
            "events": [dict(e) for e in events],
        }
        response = self._send("POST", "/kiosk/offline-session", proof=True, json=body)
        grant: TokenGrant = self._grant(response, LoginRefused)
        return grant

    def jwks(self) -> dict[str, Any]:
        """The service's published keys (``/jwks.json``)."""
        try:
            body = self._json(self._send("GET", "/jwks.json"))
        except ServerAnswer as answer:
            raise answer.service_error() from None
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise BrokerError("The token service's JWKS is not a key set.")
        return body

    def admin_get(
        self, path: str, access_token: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        return self._with_token("GET", path, access_token, params=_params(params))

    def admin_post(self, path: str, access_token: str, body: Mapping[str, Any]) -> Any:
        return self._with_token("POST", path, access_token, json=dict(body))

    def admin_download(
        self, path: str, access_token: str, params: Mapping[str, Any] | None, target: Path
    ) -> None:
        """Stream a file (an audit export) to ``target``; nothing is left on failure."""
        headers = self._authorization("GET", path, access_token)
        partial = target.with_name(target.name + ".part")
        try:
            with self._http.stream("GET", path, headers=headers, params=_params(params)) as r:
                if r.status_code >= 400:
                    r.read()
                    self._json(r)  # raises ServerAnswer (or ServerUnreachable for a 5xx)
                with partial.open("wb") as out:
                    for chunk in r.iter_bytes():
                        out.write(chunk)
            partial.replace(target)
        except ServerAnswer as answer:
            raise answer.service_error() from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"The download from {self.server} failed ({_why(exc)})."
            ) from exc
        finally:
            partial.unlink(missing_ok=True)

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()


class WebAuthnLoginSteps:
    """``/login/webauthn/options`` and ``/login/webauthn``: a security-key login's HTTP."""

    def __init__(
        self, client: TokenServiceClient, *, confirm: Mapping[str, Any] | None = None
    ) -> None:
        self._client = client
        self._confirm = confirm

    @property
    def origin(self) -> str:
        """The service as this client was configured with it."""
        return self._client.server

    def begin(self) -> dict[str, Any]:
        """The server's options: ``{"handle": ..., "publicKey": {...}}``."""
        client = self._client
        try:
            options = client._json(client._send("POST", "/login/webauthn/options"))
        except ServerAnswer as answer:
            raise answer.refusal(LoginRefused) from None
        if not isinstance(options, dict) or not isinstance(options.get("publicKey"), dict):
            raise BrokerError("The token service sent no security-key options.")
        return options

    def complete(self, handle: Any, credential: Mapping[str, Any]) -> TokenGrant:
        """The key's assertion for ``handle``: the tokens."""
        client = self._client
        body = {"handle": handle, "credential": credential, "client_id": client.client_id}
        if self._confirm is not None:
            body["confirm"] = dict(self._confirm)
        grant: TokenGrant = client._grant(
            client._send("POST", "/login/webauthn", proof=True, json=body), LoginRefused
        )
        return grant


class TapLoginSteps:
    """``/login/tap/webauthn``: a tap's HTTP, for ``devices.key_ceremonies.login_with_key``
    (its options came with the service's answer that this kiosk takes taps)."""

    def __init__(self, client: TokenServiceClient, options: dict[str, Any]) -> None:
        self._client = client
        self._options = options

    @property
    def origin(self) -> str:
        return self._client.server

    def begin(self) -> dict[str, Any]:
        return self._options

    def complete(self, handle: Any, credential: Mapping[str, Any]) -> TokenGrant:
        client = self._client
        body = {"handle": handle, "credential": credential, "client_id": client.client_id}
        grant: TokenGrant = client._grant(
            client._send("POST", "/login/tap/webauthn", proof=True, json=body), LoginRefused
        )
        return grant


class PivLoginSteps:
    """``/login/piv/challenge`` and ``/login/piv``: a card login's HTTP; with ``tap`` the
    card tap's (``/login/tap/piv/challenge``, ``/login/tap/piv``)."""

    def __init__(
        self,
        client: TokenServiceClient,
        *,
        confirm: Mapping[str, Any] | None = None,
        tap: bool = False,
    ) -> None:
        self._client = client
        self._confirm = confirm
        self._path = "/login/tap/piv" if tap else "/login/piv"

    @property
    def origin(self) -> str:
        """The service as this client was configured with it: what the card's signature
        names (never anything the server says about itself)."""
        return self._client.server

    def begin(self, certificate: bytes) -> PivChallenge:
        body = {"certificate": b64url_encode(certificate), "client_id": self._client.client_id}
        answer = self._answer(self._client._send("POST", self._path + "/challenge", json=body))
        try:
            return PivChallenge(
                handle=str(answer["handle"]),
                challenge=b64url_decode(str(answer["challenge"])),
                expires_in=float(answer.get("expires_in", 120.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BrokerError(
                "The token service sent a PIV challenge that cannot be used."
            ) from exc

    def complete(self, handle: str, signature: bytes) -> TokenGrant:
        body: dict[str, Any] = {"handle": handle, "signature": b64url_encode(signature)}
        if self._path != "/login/piv":  # a tap's challenge is bound to this kiosk client
            body["client_id"] = self._client.client_id
        if self._confirm is not None:
            body["confirm"] = dict(self._confirm)
        answer = self._answer(self._client._send("POST", self._path, proof=True, json=body))
        try:
            return TokenGrant.from_json(answer)
        except ValueError as exc:
            raise BrokerError(
                f"The token service answered a token response that cannot be used ({exc})."
            ) from exc

    def _answer(self, response: httpx.Response) -> Any:
        try:
            body = self._client._json(response)
        except ServerAnswer as answer:
            raise answer.refusal(LoginRefused) from None
        if not isinstance(body, dict):
            raise BrokerError("The token service answered something that is not a JSON object.")
        return body


def _error_of(response: httpx.Response) -> str | None:
    body = _error_body(response)
    return body[0] if body else None


def _error_body(response: httpx.Response) -> tuple[str, str] | None:
    """``(error, error_description)`` of an OAuth (or admin API) error answer."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return None
    description = body.get("error_description")
    if not isinstance(description, str) or not description:
        description = body["error"].replace("_", " ")
    return body["error"], description[:_ERROR_BODY_LIMIT]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _why(exc: Exception) -> str:
    text = str(exc).strip()
    return text[:120] if text else type(exc).__name__


def _params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {
        k: ("true" if v is True else "false" if v is False else v)
        for k, v in params.items()
        if v is not None
    }
