"""What the kiosk asks of the token service and the keychain, as one port.

:class:`SignInService` is the kiosk's view: the factor kinds to invite, a login per
factor, and the session kept in the keychain. :class:`BrokerSignIn` is the real one, over
:mod:`tokenstile.broker` (HTTP to the service, the OS keychain); nothing here reaches the
service any other way. Every call blocks: the window runs them on its worker thread.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tokenstile.broker import (
    Broker,
    LoginRefused,
    ServerUnreachable,
    SessionInfo,
    TokenGrant,
    TokenServiceClient,
)
from tokenstile.broker.errors import BrokerError
from tokenstile.broker.model import StoredSession
from tokenstile.broker.origin import webauthn_origin
from tokenstile.devices.errors import NoCertificate
from tokenstile.devices.fido2_client import PinPrompt as KeyPinPrompt
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.devices.key_ceremonies import login_with_key
from tokenstile.devices.offline_login import OfflineSignIn
from tokenstile.devices.piv import PivCard
from tokenstile.devices.piv_login import PinPrompt as CardPinPrompt
from tokenstile.devices.piv_login import login_with_card, tap_with_card
from tokenstile.devices.security_keys import SecurityKey
from tokenstile.errors import TokenstileError
from tokenstile.kiosk.offline import OfflineDesk

ALL_FACTORS = ("fido2", "piv", "totp", "tac")  # tac: a temporary access code

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorOffer:
    """The kinds of factor this deployment has enrolled (what the sign-in screen invites)."""

    kinds: tuple[str, ...] = ALL_FACTORS


@dataclass(frozen=True, slots=True, kw_only=True)
class ParkedPerson:
    """Someone parked at this kiosk (``kiosk_park_sessions``): what the lock screen may
    show (a name) and when the service ends their session."""

    sid: str
    name: str
    until: float


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPrompts:
    """What a security-key login tells the person, asks them, and how it is called off."""

    on_touch: Callable[[], None]
    on_pin: Callable[[KeyPinPrompt], str | None]
    cancel: threading.Event


class SignInService(Protocol):
    server: str
    client_id: str

    def factors(self) -> FactorOffer: ...

    def login_totp(self, username: str, code: str) -> TokenGrant:
        """With an empty ``username``: the fob tap of tap-and-go."""
        ...

    def end_shift(self) -> bool:
        """Sign out and end this person's shift at the kiosk's group (tap-and-go)."""
        ...

    def login_tac(self, username: str, code: str) -> TokenGrant: ...

    def login_fido2(self, key: SecurityKey, prompts: KeyPrompts) -> TokenGrant: ...

    def login_piv(
        self, card: PivCard, ask_pin: CardPinPrompt, *, cancel: threading.Event
    ) -> TokenGrant: ...

    def save(self, grant: TokenGrant) -> SessionInfo:
        """Keep ``grant`` as the session in the keychain (revoking any earlier one)."""
        ...

    def session(self) -> SessionInfo | None: ...

    def discard(self, grant: TokenGrant) -> None:
        """Revoke a grant the kiosk does not keep (an unlock proves who; it opens nothing)."""
        ...

    def sign_out(self) -> None:
        """Revoke the session at the service, then wipe it from the keychain."""
        ...

    def park(self, max_parked: int) -> None:
        """Park the signed-in person at the service (``ParkingFull`` past ``max_parked``);
        a later sign-in of theirs (:meth:`save`) resumes their session."""
        ...

    def parked(self) -> tuple[ParkedPerson, ...]:
        """Who is parked here (no network)."""
        ...

    def end_parked(self, sid: str) -> None:
        """Sign a parked person out (revoked at the service, forgotten here)."""
        ...


def key_origin(
    server: str, announced_rp_id: str | None = None, pinned_rp_id: str | None = None
) -> str:
    """The WebAuthn origin of a key ceremony at ``server`` (the URL this machine's
    configuration names): ``https://<rp id>``, decided by
    :func:`~tokenstile.broker.origin.webauthn_origin`. What the service announces (at
    ``/login/factors``, or as ``rp.id`` of registration options) is only checked against
    ``server``; ``OriginMismatch`` when it does not belong to it."""
    return webauthn_origin(server, announced_rp_id, pinned_rp_id)[1]


def token_claims(access_token: str) -> dict[str, Any]:
    """The payload of one of our JWT access tokens, read without checking the signature
    ({} when it cannot be read): the kiosk and the console got it from their own service
    over TLS a moment ago and only show it or compare it with what they already hold."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def grant_subject(grant: TokenGrant) -> str:
    """Who a fresh grant signed in (``sub`` of its access token, as the service issued it)."""
    subject = token_claims(grant.access_token).get("sub")
    if not isinstance(subject, str):
        raise TokenstileError("The sign-in service answered a token without a subject.")
    return subject


class BrokerSignIn:
    """The real :class:`SignInService`: a :class:`TokenServiceClient` and a :class:`Broker`."""

    def __init__(
        self,
        server: str,
        *,
        broker: Broker,
        client: TokenServiceClient | None = None,
        client_id: str = "tokenstile-kiosk",
        rp_id: str | None = None,
        offline: OfflineDesk | None = None,
        tap_and_go: bool = True,
    ) -> None:
        self.server = server.rstrip("/")
        # Offline sign-in (kiosk.offline): None keeps the kiosk online-only.
        self.offline = offline
        self._offline_pending: tuple[str, OfflineSignIn] | None = None
        self.client_id = client_id
        self.broker = broker
        # Lists the factors and revokes unused grants; each login gets its own client from
        # the broker (with a fresh DPoP key when the broker binds sessions to one).
        self.client = client or TokenServiceClient(self.server, client_id=client_id)
        self._configured_rp_id = rp_id  # the kiosk_rp_id setting: a pin, checked too
        self._announced_rp_id: str | None = None  # what the service said, unchecked
        self._asked = False
        # The kiosk_tap_and_go setting; the service's answer decides too, at each touch.
        self.tap_and_go = tap_and_go
        self.last_tap: str | None = None  # why the last key sign-in's tap was refused

    @property
    def rp_id(self) -> str:
        """The rp id this kiosk's keys sign for (``OriginMismatch`` when the service's
        announcement or the pin does not belong to the configured server URL)."""
        return webauthn_origin(self.server, self._announced_rp_id, self._configured_rp_id)[0]

    def factors(self) -> FactorOffer:
        options = self.client.login_options()
        self._announced_rp_id = options.webauthn_rp_id
        self._asked = True
        return FactorOffer(kinds=tuple(kind for kind in options.factors if kind in ALL_FACTORS))

    def login_totp(self, username: str, code: str) -> TokenGrant:
        """A code with the username; without one (tap-and-go on), the fob tap: the
        service finds the one person on shift here whose fob shows it, or refuses."""
        with self._login_client() as client:
            if not username and self.tap_and_go:
                return client.login_tap_totp(code)
            return client.login_totp(username, code)

    def login_tac(self, username: str, code: str) -> TokenGrant:
        with self._login_client() as client:
            return client.login_tac(username, code)

    def login_fido2(self, key: SecurityKey, prompts: KeyPrompts) -> TokenGrant:
        if not self._asked:  # no answer from the service yet: ask it now
            try:
                self.factors()
            except ServerUnreachable:
                if self.offline is None:
                    raise
        # Decided from the configured server URL (and the kiosk_rp_id pin) before the
        # key is spoken to; the service's announcement is only checked against it.
        _rp_id, origin = webauthn_origin(self.server, self._announced_rp_id, self._configured_rp_id)
        security_key = SecurityKeyClient(
            key,
            origin=origin,
            on_touch=prompts.on_touch,
            on_pin=prompts.on_pin,
            cancel=prompts.cancel,
        )
        try:
            with self._login_client() as client:
                tapped = self._tap(client, security_key, prompts) if self.tap_and_go else None
                if tapped is not None:
                    return tapped
                return login_with_key(
                    security_key, client.webauthn_login_steps(), cancel=prompts.cancel
                )
        except ServerUnreachable:
            if self.offline is None:
                raise
            return self._offline_grant(
                self.offline, self.offline.sign_in_key(security_key, cancel=prompts.cancel)
            )

    def _tap(
        self, client: TokenServiceClient, key: SecurityKeyClient, prompts: KeyPrompts
    ) -> TokenGrant | None:
        """Tap-and-go: a touch without PIN, when the service says this kiosk takes taps.
        None when it does not, or when it refused this tap (no open shift, another group,
        ended...): the full sign-in follows, with the PIN and a second touch (the key's
        first answer carries no user verification, so it cannot serve the full one)."""
        self.last_tap = None
        steps = client.tap_login_steps()
        if steps is None:
            return None
        try:
            return login_with_key(key, steps, cancel=prompts.cancel)
        except LoginRefused as refused:
            self.last_tap = str(refused)
            logger.info("tap refused, full sign-in: %s", refused.oauth_error)
            return None

    def login_piv(
        self, card: PivCard, ask_pin: CardPinPrompt, *, cancel: threading.Event
    ) -> TokenGrant:
        try:
            with self._login_client() as client:
                tapped = self._card_tap(client, card) if self.tap_and_go else None
                if tapped is not None:
                    return tapped
                return login_with_card(card, client.piv_login_steps(), ask_pin, cancel=cancel)
        except ServerUnreachable:
            if self.offline is None:
                raise
            done = self.offline.sign_in_card(card, ask_pin, cancel=cancel)
            return self._offline_grant(self.offline, done)

    def _card_tap(self, client: TokenServiceClient, card: PivCard) -> TokenGrant | None:
        """The card tap: the card's 9E key signs without the PIN, when the service says
        this kiosk takes taps. None when it does not, when the card has no 9E
        certificate, or when the service refused the tap (``last_tap`` keeps its
        sentence): the PIN sign-in follows."""
        self.last_tap = None
        if client.tap_login_steps() is None:
            return None
        try:
            return tap_with_card(card, client.card_tap_steps())
        except NoCertificate:
            return None
        except LoginRefused as refused:
            self.last_tap = str(refused)
            logger.info("card tap refused, PIN sign-in: %s", refused.oauth_error)
            return None

    def _offline_grant(self, desk: OfflineDesk, done: OfflineSignIn) -> TokenGrant:
        grant = desk.grant(done)
        self._offline_pending = (grant.access_token, done)
        return grant

    # -- confirm with your key (kiosk/confirm.py): the same ceremonies, for one action --

    def confirm_fido2(
        self, key: SecurityKey, prompts: KeyPrompts, asked: Mapping[str, Any]
    ) -> TokenGrant:
        """A key ceremony that confirms ``asked`` (reason, app, audience, min_acr) for the
        session held here: its answer is a confirm token, no new session."""
        if not self._asked:
            self.factors()
        _rp_id, origin = webauthn_origin(self.server, self._announced_rp_id, self._configured_rp_id)
        security_key = SecurityKeyClient(
            key,
            origin=origin,
            on_touch=prompts.on_touch,
            on_pin=prompts.on_pin,
            cancel=prompts.cancel,
        )
        client, session_token = self.broker.confirm_client()
        steps = client.webauthn_login_steps(confirm={**asked, "session_token": session_token})
        return login_with_key(security_key, steps, cancel=prompts.cancel)

    def confirm_piv(
        self,
        card: PivCard,
        ask_pin: CardPinPrompt,
        asked: Mapping[str, Any],
        *,
        cancel: threading.Event,
    ) -> TokenGrant:
        """A card ceremony that confirms ``asked`` (see :meth:`confirm_fido2`). A card left
        in the reader since the sign-in still holds its verified PIN, and the ceremony
        would then ask none: the card forgets it first, so a confirm is always a fresh PIN."""
        card.logout()
        client, session_token = self.broker.confirm_client()
        steps = client.piv_login_steps(confirm={**asked, "session_token": session_token})
        return login_with_card(card, steps, ask_pin, cancel=cancel)

    def confirm_cancelled(self, asked: Mapping[str, Any]) -> None:
        """Tell the service the person closed the prompt of ``asked`` (audited there)."""
        client, session_token = self.broker.confirm_client()
        client.confirm_cancelled({**asked, "session_token": session_token})

    def _login_client(self) -> TokenServiceClient:
        return self.broker.login_client(self.server, client_id=self.client_id)

    def save(self, grant: TokenGrant) -> SessionInfo:
        pending, self._offline_pending = self._offline_pending, None
        if self.offline is not None and pending is not None and pending[0] == grant.access_token:
            return self.offline.open_session(pending[1])
        info = self.broker.save_login(grant, server=self.server, client_id=self.client_id)
        if self.offline is not None:
            self.offline.forget()
            self.offline.renew_later(self.client, grant.access_token)
        return info

    def session(self) -> SessionInfo | None:
        return self.broker.session()

    def discard(self, grant: TokenGrant) -> None:
        if self._offline_pending is not None and self._offline_pending[0] == grant.access_token:
            self._offline_pending = None  # the kiosk's own token: nothing at the service
            return
        token = grant.refresh_token or grant.access_token
        hint = "refresh_token" if grant.refresh_token else "access_token"
        self.client.revoke(token, hint=hint)

    def sign_out(self) -> None:
        if self.offline is not None and self.offline.offline:
            self.offline.forget()  # an offline session: nothing to revoke at the service
            self.broker.logout()
            return
        if not self.broker.logout():
            raise ServerUnreachable(
                "The session was wiped here, but the service could not be told to end it."
            )

    def park(self, max_parked: int) -> None:
        self.broker.park(max_parked=max_parked)

    def parked(self) -> tuple[ParkedPerson, ...]:
        until = self.broker.parked_until()
        return tuple(
            ParkedPerson(
                sid=info.sid, name=info.display_name or info.username, until=until.get(info.sid, 0)
            )
            for info in self.broker.parked_people()
        )

    def end_parked(self, sid: str) -> None:
        if not self.broker.end_parked(sid):
            raise ServerUnreachable(
                "The parked session was forgotten here, but the service could not be told."
            )

    def end_shift(self) -> bool:
        """Sign out at the end of the shift: the service ends the session and this
        person's shift at the kiosk's group (no more taps until the next full sign-in),
        then the keychain is wiped as *Sign out* wipes it. False when the service could
        not be told to end the shift (the session is still revoked, or wiped here)."""
        document = self.broker.store.load()
        try:
            state = StoredSession.from_json(document) if document is not None else None
        except ValueError:  # unreadable: sign_out wipes it
            state = None
        ended = False
        if state is not None and state.refresh_token is not None:
            try:
                ended = self.client.end_shift(state.refresh_token)
            except BrokerError as exc:
                logger.warning("the end of the shift could not be told: %s", exc.code)
        self.sign_out()
        return ended

    def close(self) -> None:
        self.client.close()
        self.broker.close()
