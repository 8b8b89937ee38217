"""Enrollment of a person's device: a security key or a smart card. Each is a dialog
(:mod:`~tokenstile.kiosk.admin.enroll_frame`) whose device and network work runs on a
worker, through the devices' own ceremonies (:mod:`tokenstile.devices.key_ceremonies`,
:mod:`tokenstile.devices.piv_login`); the person whose key or card it is types its PIN
when asked. An authenticator app and PSKC fobs are in
:mod:`~tokenstile.kiosk.admin.enroll_otp`.

- Security key: a key without a PIN gets one first (typed twice); then the key is asked
  to make a credential (touch) for ``/admin/fido2/register/begin|complete``.
- Smart card: the card's PIN is verified first (a wrong PIN changes nothing); then either
  the certificate on the card is enrolled (``/admin/piv/cards``), or a new key is generated
  on the card (management key), certified by the service's CA (``/admin/piv/issue``) and
  written back. Either way the card is asked to attest its 9A key (YubiKey PIV ATTEST)
  and the station sends what it answered; the token service judges it by its own
  attestation roots and policy (a card that refuses sends nothing, and the service
  decides), and the dialog shows the verdict. The card must sign a fresh challenge that
  verifies with the certificate, or nothing stays enrolled.

  A card still on its factory management key is set up when a new key is generated, as
  ``manage piv enroll --generate`` does (:mod:`tokenstile.devices.piv_setup`): the
  factory PIN is replaced by one the holder types twice, the PUK is set (typed twice)
  or blocked by ``piv_puk_policy``, and a random management key is stored under the PIN;
  the steps go to ``/admin/piv/setup-audit``. The choices are asked before the card
  changes, and the set-up happens only once the service enrolled the key, so a refused
  key leaves the card's PIN and management key as they were. Enrolling the certificate
  already on such a card sets nothing up: the dialog flags the card instead.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QFormLayout, QLabel, QRadioButton

from tokenstile.devices.errors import (
    CardCommandError,
    CardSetupInterrupted,
    DeviceError,
    InvalidCardData,
)
from tokenstile.devices.fido2_client import PinPrompt
from tokenstile.devices.key_ceremonies import enroll_security_key
from tokenstile.devices.piv import PivCard, PivSlot
from tokenstile.devices.piv_login import (
    PinRequest,
    card_guid,
    card_proves_key,
    verify_card_pin,
)
from tokenstile.devices.piv_setup import (
    FACTORY_PIN,
    CardSetup,
    authenticate_with_protected_key,
    management_key_is_protected,
    new_pin_refusal,
    new_puk_refusal,
    on_factory_management_key,
    set_up_card,
)
from tokenstile.errors import TokenstileError
from tokenstile.kiosk.admin.enroll_frame import EnrollDialog, PinRows
from tokenstile.kiosk.admin.session import AdminSession, TaskCancelled
from tokenstile.kiosk.admin.widgets import DevicePage, field, local_time
from tokenstile.kiosk.service import key_origin
from tokenstile.kiosk.tasks import TaskContext
from tokenstile.protocol.piv_setup import MANAGEMENT_KEY_PROTECTED


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def card_attestation(card: PivCard) -> dict[str, str]:
    """The card's attestation of its 9A key and the certificate of its attestation key F9,
    as ``/admin/piv/issue`` and ``/admin/piv/cards`` take them; nothing when the card
    refuses or answers something unreadable (the service then decides by its policy)."""
    try:
        attested = card.attest(PivSlot.AUTHENTICATION)
        intermediate = card.read_attestation_certificate()
    except (CardCommandError, InvalidCardData):
        return {}
    return {
        "attestation": _b64url(attested.public_bytes(Encoding.DER)),
        "attestation_intermediate": _b64url(intermediate.public_bytes(Encoding.DER)),
    }


def _hint_and_pins(dialog: EnrollDialog, hint: str) -> PinRows:
    """What a device's dialog shows under its form: the hint, then the PIN rows it
    opens when the key or card asks for a PIN."""
    label = QLabel(hint)
    label.setWordWrap(True)
    dialog.body.addWidget(label)
    pins = PinRows(dialog)
    dialog.body.addWidget(pins)
    return pins


# -- a security key ------------------------------------------------------------------------


class EnrollKeyDialog(EnrollDialog):
    def __init__(self, page: DevicePage, person: dict[str, Any]) -> None:
        title = QCoreApplication.translate("EnrollKeyDialog", "Enroll a security key for {name}")
        super().__init__(page, person, title)
        self.setObjectName("enrollKeyDialog")
        self.label = self.label_field(
            self.tr("Security key"),
            "keyLabel",
            self.tr("Name of the key"),
            self.tr("&Name of the key"),
        )
        self.pins = _hint_and_pins(
            self,
            self.tr(
                "Insert or tap the key, then press Start. {name} may need to type its PIN."
            ).format(name=self.name),
        )
        self.start_button.clicked.connect(self.start)

    def start(self) -> None:
        label = self.label.text().strip() or self.tr("Security key")
        self.run(
            lambda ctx, session: self._enroll(ctx, session, label), self.tr("Looking for the key…")
        )

    def _enroll(self, ctx: TaskContext, session: AdminSession, label: str) -> Any:
        devices = self.page.devices
        ctx.say(self.tr("Insert or tap the security key."))
        key = devices.key_finder.wait_for_key(timeout=devices.key_wait, cancel=ctx.cancel)

        def on_pin(prompt: PinPrompt) -> str | None:
            return ctx.ask_text("key-pin", prompt)

        def new_pin() -> str:
            chosen = ctx.ask_text("new-pin")
            if chosen is None:
                raise TaskCancelled()
            ctx.say(self.tr("Setting the key's PIN…"))
            return chosen

        def complete(handle: Any, credential: dict[str, Any], uv_method: str) -> Any:
            ctx.say(self.tr("Saving…"))
            body = {"handle": handle, "credential": credential, "user_verification": uv_method}
            return session.post("/admin/fido2/register/complete", body)

        def origin(public_key: Mapping[str, Any]) -> str:
            return key_origin(self.page.server, public_key.get("rp", {}).get("id"))

        try:
            return enroll_security_key(
                key,
                lambda: session.post(
                    "/admin/fido2/register/begin", {"username": self.username, "label": label}
                ),
                complete,
                origin=origin,
                new_pin=new_pin,
                on_pin=on_pin,
                on_touch=lambda: ctx.say(self.tr("Touch the security key.")),
                cancel=ctx.cancel,
            )
        finally:
            key.close()

    def ask(self, kind: str, payload: object) -> None:
        if kind == "new-pin":
            self.prompt.setText(
                self.tr(
                    "This key has no PIN yet. Ask {name} to choose one (4 to 63 characters), twice."
                ).format(name=self.name)
            )
        else:
            retries = payload.retries_left if isinstance(payload, PinPrompt) else None
            text = self.tr("Ask {name} to type the key's PIN.").format(name=self.name)
            if retries is not None:
                text = self.tr("Ask {name} to type the key's PIN ({n} tries left).").format(
                    name=self.name, n=retries
                )
            self.prompt.setText(text)
        self.pins.open_rows(kind)

    def hide_prompt_fields(self) -> None:
        self.pins.close_rows()

    def succeeded(self, record: Any) -> None:
        self.finish(
            self.tr("Enrolled the key “{label}” for {name}.").format(
                label=record.get("label", ""), name=self.name
            )
        )


# -- a smart card ----------------------------------------------------------------------------


class EnrollCardDialog(EnrollDialog):
    def __init__(self, page: DevicePage, person: dict[str, Any]) -> None:
        title = QCoreApplication.translate("EnrollCardDialog", "Enroll a smart card for {name}")
        super().__init__(page, person, title)
        self.setObjectName("enrollCardDialog")
        self.use_existing = QRadioButton(self.tr("&Use the certificate already on the card"))
        self.use_existing.setObjectName("cardUseCertificate")
        self.use_existing.setAccessibleName(self.tr("Use the certificate already on the card"))
        self.generate = QRadioButton(
            self.tr("&Generate a new key on the card and issue its certificate")
        )
        self.generate.setObjectName("cardGenerate")
        self.generate.setAccessibleName(
            self.tr("Generate a new key on the card and issue its certificate")
        )
        self.use_existing.setChecked(True)
        self.label = field(self.tr("Badge"), "cardLabel", self.tr("Name of the card"))
        form = QFormLayout()
        form.addRow(self.tr("&Name of the card"), self.label)
        self.body.addWidget(self.use_existing)
        self.body.addWidget(self.generate)
        self.body.addLayout(form)
        self.pins = _hint_and_pins(
            self,
            self.tr(
                "Insert the card, then press Start. {name} types the card's PIN so the "
                "card can prove it holds its key."
            ).format(name=self.name),
        )
        self.start_button.clicked.connect(self.start)

    def start(self) -> None:
        generate = self.generate.isChecked()
        label = self.label.text().strip() or None
        self.run(
            lambda ctx, session: self._enroll(ctx, session, generate=generate, label=label),
            self.tr("Reading the card…"),
        )

    def _enroll(
        self, ctx: TaskContext, session: AdminSession, *, generate: bool, label: str | None
    ) -> Any:
        devices = self.page.devices
        card = devices.open_card()
        try:
            guid = card_guid(card)
            pin = self._verify_pin(ctx, card)
            extra: dict[str, Any] = {"card_guid": guid} if guid else {}
            if label:
                extra["label"] = label
            # Anyone may change a card on its factory management key: the generate path
            # sets such a card up; the other flags it in the dialog.
            factory = on_factory_management_key(card)
            if generate:
                return self._issue(ctx, session, card, extra, factory=factory, pin=pin)
            certificate = card.read_certificate(PivSlot.AUTHENTICATION)
            ctx.say(self.tr("The card is signing a test challenge…"))
            if not card_proves_key(card):
                raise TokenstileError(
                    "The card's signature does not verify with its certificate: not enrolled."
                )
            ctx.say(self.tr("Asking the card to attest its key…"))
            answer = session.post(
                "/admin/piv/cards",
                {
                    "username": self.username,
                    "certificate": _b64url(certificate.public_bytes(Encoding.DER)),
                    **card_attestation(card),
                    **extra,
                },
            )
            return {**answer, "factory_management_key": factory, "setup_steps": []}
        finally:
            with contextlib.suppress(DeviceError):
                card.logout()  # the card forgets the PIN before it leaves the station
            card.close()

    def _verify_pin(self, ctx: TaskContext, card: PivCard) -> str | None:
        """The PIN loop; the PIN the card took (None when it held one already)."""
        typed: list[str] = []

        def ask_pin(request: PinRequest) -> str:
            pin = ctx.ask_text("card-pin", request)
            if pin is None:
                raise TaskCancelled()
            typed.append(pin)
            return pin

        verify_card_pin(card, ask_pin)
        return typed[-1] if typed else None

    def _setup_plan(self, ctx: TaskContext, pin: str | None) -> CardSetup:
        """What the set-up of a factory card will do, asked before the card changes: a new
        PIN when the holder's is the factory one, a new PUK under the set policy."""
        cards = self.page.devices.cards
        if pin is None:
            raise TokenstileError(
                "The card took a PIN before this station asked for it: take it out, put it "
                "back and start again."
            )
        new_pin = self._choose(ctx, "new-card-pin", new_pin_refusal) if pin == FACTORY_PIN else None
        new_puk = (
            self._choose(ctx, "new-puk", new_puk_refusal) if cards.puk_policy == "set" else None
        )
        return CardSetup(
            new_pin=new_pin,
            puk=cards.puk_policy,
            new_puk=new_puk,
            management_key_algorithm=cards.setup_management_key_algorithm,
        )

    @staticmethod
    def _choose(ctx: TaskContext, kind: str, refusal: Callable[[str], str | None]) -> str:
        chosen = ctx.ask_text(kind)
        if chosen is None:
            raise TaskCancelled()
        problem = refusal(chosen)
        if problem is not None:  # the PIN rows check it first; this is the last word
            raise TokenstileError(problem)
        return chosen

    def _issue(
        self,
        ctx: TaskContext,
        session: AdminSession,
        card: PivCard,
        extra: dict[str, Any],
        *,
        factory: bool,
        pin: str | None,
    ) -> Any:
        cards = self.page.devices.cards
        setup = None
        if management_key_is_protected(card):  # set up before: its key is under the PIN
            authenticate_with_protected_key(card)  # the PIN was verified above
        elif factory:  # on_factory_management_key authenticated the session with it
            setup = self._setup_plan(ctx, pin)
        else:
            card.authenticate(cards.management_key, cards.management_key_algorithm)
        ctx.say(self.tr("Generating a key on the card…"))
        public_key = card.generate_key(PivSlot.AUTHENTICATION, cards.key_algorithm)
        spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        ctx.say(self.tr("Asking the card to attest its new key…"))
        answer = session.post(
            "/admin/piv/issue",
            {
                "username": self.username,
                "public_key": _b64url(spki),
                **card_attestation(card),
                **extra,
            },
        )
        enrolled = answer["card"]
        steps: list[str] = []
        try:
            if setup is not None:
                ctx.say(self.tr("Setting the card up: its PIN, PUK and management key…"))
                assert pin is not None  # noqa: S101 - _setup_plan refused a card without one
                try:
                    steps = set_up_card(card, setup, pin=pin)
                except CardSetupInterrupted as exc:
                    if exc.steps:  # what did change on the card is audited all the same
                        self._audit_setup(session, enrolled, exc.steps, extra)
                    raise
                self._audit_setup(session, enrolled, steps, extra)
            ctx.say(self.tr("Writing the certificate to the card…"))
            certificate = x509.load_der_x509_certificate(_unb64url(answer["certificate"]))
            card.put_certificate(PivSlot.AUTHENTICATION, certificate)
            proved = card_proves_key(card)
        except (TokenstileError, ValueError):
            with contextlib.suppress(TokenstileError):
                session.post("/admin/piv/revoke", {"fingerprint": enrolled["fingerprint"]})
            raise
        if not proved:
            session.post("/admin/piv/revoke", {"fingerprint": enrolled["fingerprint"]})
            raise TokenstileError(
                "The card did not sign with its new key; the certificate was revoked."
            )
        return {
            **enrolled,
            "attestation": answer.get("attestation"),
            "factory_management_key": False if setup is not None else factory,
            "setup_steps": steps,
        }

    def _audit_setup(
        self, session: AdminSession, enrolled: Any, steps: list[str], extra: dict[str, Any]
    ) -> None:
        session.post(
            "/admin/piv/setup-audit",
            {
                "username": self.username,
                "fingerprint": enrolled["fingerprint"],
                "steps": steps,
                **({"card_guid": extra["card_guid"]} if "card_guid" in extra else {}),
            },
        )

    def ask(self, kind: str, payload: object) -> None:
        if kind == "new-card-pin":
            self.prompt.setText(
                self.tr(
                    "This card still has its factory PIN. Ask {name} to choose a new one "
                    "(6 to 8 digits), twice."
                ).format(name=self.name)
            )
            self.pins.open_rows(kind)
            return
        if kind == "new-puk":
            self.prompt.setText(
                self.tr(
                    "Choose the card's new PUK (6 to 8 characters), twice, and keep it where "
                    "the PUKs are kept: it unblocks the PIN."
                )
            )
            self.pins.open_rows(kind)
            return
        retries, wrong = None, False
        if isinstance(payload, PinRequest):
            retries, wrong = payload.retries_left, payload.wrong_pin
        text = self.tr("Ask {name} to type the card's PIN.").format(name=self.name)
        if retries is not None:
            text = self.tr("Ask {name} to type the card's PIN ({n} tries left).").format(
                name=self.name, n=retries
            )
        if wrong:
            text = self.tr("Wrong PIN. ") + text
        self.prompt.setText(text)
        self.pins.open_rows(kind)

    def hide_prompt_fields(self) -> None:
        self.pins.close_rows()

    def succeeded(self, record: Any) -> None:
        how = (
            self.tr("a new key and certificate")
            if record.get("source") == "issued"
            else self.tr("its certificate")
        )
        text = self.tr("Enrolled the card of {name} ({how}), valid until {until}.").format(
            name=self.name, how=how, until=local_time(record.get("not_after"))
        )
        verdict = record.get("attestation") or {}
        if verdict.get("status") == "attested":
            text += " " + self.tr("Key generated on the card: attested by {root}.").format(
                root=verdict.get("root")
            )
        elif verdict:
            text += " " + self.tr("Not attested: {reason}.").format(reason=verdict.get("reason"))
        steps = record.get("setup_steps") or []
        if steps:
            text += " " + self.tr(
                "Card set up: {steps} (its management key is now under its PIN)."
            ).format(
                steps=", ".join(
                    self._step_text(step) for step in steps if step != MANAGEMENT_KEY_PROTECTED
                )
            )
        if record.get("factory_management_key"):
            text += " " + self.tr(
                "This card still has its factory management key: set it up with "
                "“tokenstile manage piv enroll --generate”."
            )
        self.finish(text)

    def _step_text(self, step: str) -> str:
        name, _, algorithm = step.partition(":")
        return {
            "pin_changed": self.tr("new PIN"),
            "puk_changed": self.tr("new PUK"),
            "puk_blocked": self.tr("PUK blocked"),
            "management_key_replaced": self.tr("random {algorithm} management key").format(
                algorithm=algorithm
            ),
        }.get(name, step)
