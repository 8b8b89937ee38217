"""Enrollment for a person: a security key, a smart card, an authenticator app, or fobs
from a PSKC file. Each is a dialog whose device and network work runs on a worker; the
person whose key or card it is types its PIN when asked.

- Security key: a key without a PIN gets one first (typed twice); then the key is asked
  to make a credential (touch) for ``/admin/fido2/register/begin|complete``.
- Smart card: the card's PIN is verified first (a wrong PIN changes nothing); then either
  the certificate on the card is enrolled (``/admin/piv/cards``), or a new key is generated
  on the card (management key), certified by the service's CA (``/admin/piv/issue``) and
  written back. Either way the card must sign a fresh challenge that verifies with the
  certificate, or nothing stays enrolled.
- Authenticator app: ``/admin/otp/totp`` gives an otpauth URI, shown as a QR code; the
  first code the app shows confirms it (``/admin/otp/confirm``). Left unconfirmed, the
  pending credential is revoked.
- PSKC file: ``/admin/otp/import`` (every key or none), a report, and each fob handed to a
  person with ``/admin/otp/assign``.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import qrcode  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from tokenstile.devices.errors import (
    CardCommandError,
    DeviceError,
    InvalidCardData,
    WrongPin,
)
from tokenstile.devices.fido2_client import PinPrompt, SecurityKeyClient
from tokenstile.devices.fido2_errors import KeyUnsupported
from tokenstile.devices.piv import PivCard, PivSlot
from tokenstile.devices.piv_login import PinRequest
from tokenstile.errors import TokenstileError
from tokenstile.factors.piv import card_public_key, verify_challenge_signature
from tokenstile.kiosk.admin.messages import describe
from tokenstile.kiosk.admin.session import AdminSession, TaskCancelled
from tokenstile.kiosk.admin.widgets import (
    PinField,
    StatusLine,
    Table,
    button,
    field,
    field_row,
    local_time,
)
from tokenstile.kiosk.service import key_origin
from tokenstile.kiosk.tasks import Task, TaskContext

if TYPE_CHECKING:
    from tokenstile.kiosk.admin.people import PeoplePage

MAX_PSKC_FILE = 1024 * 1024


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def qr_image(text: str, *, scale: int = 8) -> QImage:
    """``text`` as a QR code: dark modules on white with a quiet zone, ``scale`` px each."""
    code = qrcode.QRCode(error_correction=qrcode.ERROR_CORRECT_M, border=4)
    code.add_data(text)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()
    size = len(matrix) * scale
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        for y, row in enumerate(matrix):
            for x, dark in enumerate(row):
                if dark:
                    painter.fillRect(x * scale, y * scale, scale, scale, QColor("black"))
    finally:
        painter.end()
    return image


class EnrollDialog(QDialog):
    """The frame every enrollment shares: a title, the steps, prompts, status, buttons."""

    def __init__(self, page: PeoplePage, person: dict[str, Any], title: str) -> None:
        super().__init__(page)
        self.page = page
        self.person = person
        self.username: str = person["username"]
        self.name: str = person.get("display_name") or self.username
        self.task: Task | None = None
        self.result_record: Any = None
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        self.setMinimumWidth(520)
        heading = QLabel(title)
        heading.setObjectName("dialogTitle")
        self.body = QVBoxLayout()
        self.prompt = QLabel()
        self.prompt.setObjectName("prompt")
        self.prompt.setWordWrap(True)
        self.status = StatusLine(f"{type(self).__name__}Status")
        self.start_button = button(self.tr("Start"), "enrollStart", default=True)
        self.cancel_button = button(self.tr("Cancel"), "enrollCancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(self.body)
        layout.addWidget(self.prompt)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

    @property
    def session(self) -> AdminSession:
        session = self.page.session
        if session is None:
            raise TaskCancelled()
        return session

    def run(self, work: Any, busy: str) -> None:
        """Run ``work(ctx, session)`` on a worker; the dialog stays responsive."""
        if self.task is not None and self.task.running:
            return
        session = self.session
        self.status.show_info(busy)
        self.start_button.setEnabled(False)
        self.task = self.page.runner.start(
            lambda ctx: work(ctx, session),
            on_done=self._succeeded,
            on_error=self._failed,
            on_prompt=self.ask,
            on_progress=self.prompt.setText,
            on_end=self._ended,
            owner=self,
        )

    def later(self, *widgets: QWidget) -> None:
        """Widgets the dialog shows once the first step is done."""
        for widget in widgets:
            widget.setVisible(False)
            self.body.addWidget(widget)

    def start_with(self, text: str, accessible: str, slot: Callable[[], None]) -> None:
        """What the Start button says and does."""
        self.start_button.setText(text)
        self.start_button.setAccessibleName(accessible)
        self.start_button.clicked.connect(slot)

    def cancel(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()
        self.reject()

    def reject(self) -> None:
        if self.task is not None:
            self.task.cancel()
        super().reject()

    def _succeeded(self, record: Any) -> None:
        self.result_record = record
        self.prompt.setText("")
        self.succeeded(record)

    def _failed(self, exc: BaseException) -> None:
        self.prompt.setText("")
        if self.task is not None and self.task.cancel_event.is_set():
            return
        self.status.show_error(describe(exc))
        self.start_button.setEnabled(True)

    def _ended(self) -> None:
        if self.task is not None and self.task.running:
            return  # a newer task already started: its prompts stay
        self.hide_prompt_fields()

    def finish(self, text: str) -> None:
        """The enrollment is done: say so, and offer only Close."""
        self.status.show_success(text)
        self.start_button.setVisible(False)
        self.cancel_button.setText(self.tr("Close"))
        self.cancel_button.setAccessibleName(self.tr("Close"))
        self.cancel_button.setFocus()

    # to override
    def succeeded(self, record: Any) -> None:
        self.finish(self.tr("Done."))

    def ask(self, kind: str, payload: object) -> None:
        pass

    def hide_prompt_fields(self) -> None:
        pass


class _PinRows(QWidget):
    """The PIN field (and its repetition for a new PIN) a dialog shows when asked."""

    def __init__(self, dialog: EnrollDialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.pin = PinField("enrollPin", self.tr("PIN"))
        self.repeat = PinField("enrollPinRepeat", self.tr("The same PIN again"))
        self.repeat_label = QLabel(self.tr("&Again"))
        self.repeat_label.setBuddy(self.repeat)
        self.submit = button(self.tr("OK"), "enrollPinSubmit")
        self.submit.setAccessibleName(self.tr("Send the PIN"))
        self.submit.clicked.connect(self.send)
        self.pin.returnPressed.connect(self.send)
        self.repeat.returnPressed.connect(self.send)
        form = QFormLayout(self)
        pin_label = QLabel(self.tr("&PIN"))
        pin_label.setBuddy(self.pin)
        form.addRow(pin_label, self.pin)
        form.addRow(self.repeat_label, self.repeat)
        form.addRow("", self.submit)
        self.kind: str | None = None
        self.close_rows()

    def open_rows(self, kind: str) -> None:
        self.kind = kind
        new = kind == "new-pin"
        self.repeat.setVisible(new)
        self.repeat_label.setVisible(new)
        self.setVisible(True)
        self.pin.setFocus()

    def close_rows(self) -> None:
        self.kind = None
        self.pin.clear()
        self.repeat.clear()
        self.setVisible(False)

    def send(self) -> None:
        task = self.dialog.task
        if task is None or self.kind is None:
            return
        pin = self.pin.take()
        if self.kind == "new-pin":
            again = self.repeat.take()
            if len(pin) < 4 or len(pin.encode()) > 63:
                self.dialog.status.show_error(self.tr("A key's PIN has 4 to 63 characters."))
                return
            if pin != again:
                self.dialog.status.show_error(self.tr("The two PINs differ: type them again."))
                return
        elif not pin:
            return
        self.dialog.status.show_info("")
        self.close_rows()
        task.answer(pin)


# -- a security key ------------------------------------------------------------------------


class EnrollKeyDialog(EnrollDialog):
    def __init__(self, page: PeoplePage, person: dict[str, Any]) -> None:
        name = person.get("display_name") or person["username"]
        super().__init__(
            page,
            person,
            QCoreApplication.translate(
                "EnrollKeyDialog", "Enroll a security key for {name}"
            ).format(name=name),
        )
        self.setObjectName("enrollKeyDialog")
        self.label = field(self.tr("Security key"), "keyLabel", self.tr("Name of the key"))
        self.label.setText(self.tr("Security key"))
        form = QFormLayout()
        form.addRow(self.tr("&Name of the key"), self.label)
        self.body.addLayout(form)
        hint = QLabel(
            self.tr(
                "Insert or tap the key, then press Start. {name} may need to type its PIN."
            ).format(name=self.name)
        )
        hint.setWordWrap(True)
        self.body.addWidget(hint)
        self.pins = _PinRows(self)
        self.body.addWidget(self.pins)
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
        new_pin: list[str] = []

        def on_pin(prompt: PinPrompt) -> str | None:
            if new_pin:  # the PIN just set: the person need not type it again
                return new_pin.pop()
            answer = ctx.ask("key-pin", prompt)
            return answer if isinstance(answer, str) else None

        try:
            options = session.post(
                "/admin/fido2/register/begin", {"username": self.username, "label": label}
            )
            public_key = options["publicKey"]
            client = SecurityKeyClient(
                key,
                origin=key_origin(self.page.server, public_key.get("rp", {}).get("id")),
                on_touch=lambda: ctx.say(self.tr("Touch the security key.")),
                on_pin=on_pin,
                cancel=ctx.cancel,
            )
            info = client.info()
            if not info.resident_keys:
                raise KeyUnsupported("This key cannot keep sign-ins (no resident keys).")
            if not info.pin_set and not info.builtin_uv:
                chosen = ctx.ask("new-pin", None)
                if not isinstance(chosen, str):
                    raise TaskCancelled()
                ctx.say(self.tr("Setting the key's PIN…"))
                client.set_pin(chosen)
                new_pin.append(chosen)
            response = client.register(public_key)
            ctx.say(self.tr("Saving…"))
            return session.post(
                "/admin/fido2/register/complete",
                {
                    "handle": options["handle"],
                    "credential": response,
                    "user_verification": info.uv_method,
                },
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


def card_guid(card: PivCard) -> str | None:
    try:
        return card.read_chuid().card_id
    except (CardCommandError, InvalidCardData):
        return None


def card_proves_key(card: PivCard) -> bool:
    """The card signs a fresh challenge that verifies with its 9A certificate."""
    challenge = os.urandom(32)
    signature = card.sign(challenge, slot=PivSlot.AUTHENTICATION)
    public_key = card_public_key(card.read_certificate(PivSlot.AUTHENTICATION))
    return verify_challenge_signature(public_key, challenge, signature)


class EnrollCardDialog(EnrollDialog):
    def __init__(self, page: PeoplePage, person: dict[str, Any]) -> None:
        name = person.get("display_name") or person["username"]
        super().__init__(
            page,
            person,
            QCoreApplication.translate("EnrollCardDialog", "Enroll a smart card for {name}").format(
                name=name
            ),
        )
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
        hint = QLabel(
            self.tr(
                "Insert the card, then press Start. {name} types the card's PIN so the "
                "card can prove it holds its key."
            ).format(name=self.name)
        )
        hint.setWordWrap(True)
        self.body.addWidget(hint)
        self.pins = _PinRows(self)
        self.body.addWidget(self.pins)
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
            self._verify_pin(ctx, card)
            extra: dict[str, Any] = {"card_guid": guid} if guid else {}
            if label:
                extra["label"] = label
            if generate:
                return self._issue(ctx, session, card, extra)
            certificate = card.read_certificate(PivSlot.AUTHENTICATION)
            ctx.say(self.tr("The card is signing a test challenge…"))
            if not card_proves_key(card):
                raise TokenstileError(
                    "The card's signature does not verify with its certificate: not enrolled."
                )
            return session.post(
                "/admin/piv/cards",
                {
                    "username": self.username,
                    "certificate": _b64url(certificate.public_bytes(Encoding.DER)),
                    **extra,
                },
            )
        finally:
            with contextlib.suppress(DeviceError):
                card.logout()  # the card forgets the PIN before it leaves the station
            card.close()

    def _verify_pin(self, ctx: TaskContext, card: PivCard) -> None:
        status = card.pin_status()
        request = PinRequest(retries_left=status.retries_left)
        while True:
            pin = ctx.ask("card-pin", request)
            if not isinstance(pin, str):
                raise TaskCancelled()
            try:
                card.verify_pin(pin)
            except WrongPin as exc:
                request = PinRequest(retries_left=exc.retries_left, wrong_pin=True)
                continue
            return

    def _issue(
        self, ctx: TaskContext, session: AdminSession, card: PivCard, extra: dict[str, Any]
    ) -> Any:
        cards = self.page.devices.cards
        ctx.say(self.tr("Generating a key on the card…"))
        card.authenticate(cards.management_key, cards.management_key_algorithm)
        public_key = card.generate_key(PivSlot.AUTHENTICATION, cards.key_algorithm)
        spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        answer = session.post(
            "/admin/piv/issue", {"username": self.username, "public_key": _b64url(spki), **extra}
        )
        enrolled = answer["card"]
        try:
            ctx.say(self.tr("Writing the certificate to the card…"))
            certificate = x509.load_der_x509_certificate(_unb64url(answer["certificate"]))
            card.put_certificate(PivSlot.AUTHENTICATION, certificate)
            proved = card_proves_key(card)
        except (DeviceError, ValueError):
            session.post("/admin/piv/revoke", {"fingerprint": enrolled["fingerprint"]})
            raise
        if not proved:
            session.post("/admin/piv/revoke", {"fingerprint": enrolled["fingerprint"]})
            raise TokenstileError(
                "The card did not sign with its new key; the certificate was revoked."
            )
        return enrolled

    def ask(self, kind: str, payload: object) -> None:
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
        self.finish(
            self.tr("Enrolled the card of {name} ({how}), valid until {until}.").format(
                name=self.name, how=how, until=local_time(record.get("not_after"))
            )
        )


# -- an authenticator app ------------------------------------------------------------------


class EnrollAppDialog(EnrollDialog):
    def __init__(self, page: PeoplePage, person: dict[str, Any]) -> None:
        name = person.get("display_name") or person["username"]
        super().__init__(
            page,
            person,
            QCoreApplication.translate(
                "EnrollAppDialog", "Set up an authenticator app for {name}"
            ).format(name=name),
        )
        self.setObjectName("enrollAppDialog")
        self.serial: str | None = None
        self.uri: str | None = None
        self.confirmed = False
        self.label = field(self.tr("Authenticator app"), "appLabel", self.tr("Name of the app"))
        self.label.setText(self.tr("Authenticator app"))
        form = QFormLayout()
        form.addRow(self.tr("&Name"), self.label)
        self.body.addLayout(form)
        self.qr = QLabel()
        self.qr.setObjectName("qrCode")
        self.qr.setAccessibleName(self.tr("QR code to scan with the authenticator app"))
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.secret = QLabel()
        self.secret.setObjectName("manualKey")
        self.secret.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.secret.setAccessibleName(self.tr("Key to type into the app instead of scanning"))
        self.code = field(self.tr("6 or 8 digits"), "appCode", self.tr("Code shown by the app"))
        self.code.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly)
        self.confirm_button = button(self.tr("&Confirm"), "appConfirm")
        self.confirm_button.clicked.connect(self.confirm)
        self.code.returnPressed.connect(self.confirm)
        self.confirm_area = field_row(self.tr("C&ode from the app"), self.code, self.confirm_button)
        self.later(self.qr, self.secret, self.confirm_area)
        self.start_with(self.tr("Show QR code"), self.tr("Show the QR code"), self.start)

    def start(self) -> None:
        label = self.label.text().strip() or self.tr("Authenticator app")
        body = {"username": self.username, "label": label}
        self.run(
            lambda _ctx, session: ("created", session.post("/admin/otp/totp", body)),
            self.tr("Creating a secret…"),
        )

    def confirm(self) -> None:
        serial, code = self.serial, self.code.text().strip()
        if serial is None:
            return
        if not code:
            self.status.show_error(self.tr("Type the code the app shows."))
            return
        self.code.clear()
        self.run(
            lambda _ctx, session: (
                "confirmed",
                session.post("/admin/otp/confirm", {"serial": serial, "code": code}),
            ),
            self.tr("Checking the code…"),
        )

    def succeeded(self, record: Any) -> None:
        step, answer = record
        if step == "created":
            self.serial = answer["credential"]["serial"]
            self.uri = answer["otpauth_uri"]
            self.qr.setPixmap(QPixmap.fromImage(qr_image(self.uri or "", scale=6)))
            secret = parse_qs(urlsplit(self.uri or "").query).get("secret", [""])[0]
            grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
            self.secret.setText(self.tr("Can't scan? Type this key: {key}").format(key=grouped))
            for widget in (self.qr, self.secret, self.confirm_area):
                widget.setVisible(True)
            self.label.setEnabled(False)
            self.start_button.setVisible(False)
            self.status.show_info(
                self.tr("Ask {name} to scan the code, then type the code the app shows.").format(
                    name=self.name
                )
            )
            self.code.setFocus()
            return
        self.confirmed = True
        self.confirm_area.setEnabled(False)
        self.finish(self.tr("The authenticator app of {name} is set up.").format(name=self.name))

    def _failed(self, exc: BaseException) -> None:
        super()._failed(exc)
        self.start_button.setEnabled(self.serial is None)

    def reject(self) -> None:
        serial, session = self.serial, self.page.session
        if serial is not None and not self.confirmed and session is not None:
            # Not confirmed: the secret left on screen must not stay usable.
            self.page.runner.start(
                lambda _ctx: session.post("/admin/otp/revoke", {"serial": serial})
            )
        super().reject()


# -- fobs from a PSKC file -------------------------------------------------------------------


class ImportPskcDialog(EnrollDialog):
    def __init__(self, page: PeoplePage, path: Path, assign_to: str) -> None:
        super().__init__(
            page,
            {"username": assign_to},
            QCoreApplication.translate("ImportPskcDialog", "Import fobs from {file}").format(
                file=path.name
            ),
        )
        self.setObjectName("importPskcDialog")
        self.path = path
        self.psk = field(
            self.tr("only if the file is encrypted"), "pskcKey", self.tr("Pre-shared key (hex)")
        )
        self.psk.setEchoMode(self.psk.EchoMode.Password)
        form = QFormLayout()
        form.addRow(self.tr("&Pre-shared key (hex)"), self.psk)
        self.body.addLayout(form)
        self.report = QLabel()
        self.report.setObjectName("importReport")
        self.report.setWordWrap(True)
        self.fobs = Table(
            "importedFobs",
            self.tr("Imported fobs"),
            [self.tr("Serial"), self.tr("Model"), self.tr("Kind"), self.tr("Person")],
        )
        self.assignee = field(self.tr("username"), "assignTo", self.tr("Hand the fob to"))
        self.assignee.setText(assign_to)
        self.assign_button = button(self.tr("&Hand over"), "assignFob")
        self.assign_button.setAccessibleName(self.tr("Hand the selected fob to the person"))
        self.assign_button.clicked.connect(self.assign)
        self.assign_area = field_row(
            self.tr("Hand the selected fob &to"), self.assignee, self.assign_button
        )
        self.later(self.report, self.fobs, self.assign_area)
        self.imported: list[dict[str, Any]] = []
        self.start_with(self.tr("&Import"), self.tr("Import the file"), self.start)

    def start(self) -> None:
        path, psk = self.path, self.psk.text().strip() or None

        def work(_ctx: TaskContext, session: AdminSession) -> Any:
            with path.open("rb") as handle:
                data = handle.read(MAX_PSKC_FILE + 1)
            if len(data) > MAX_PSKC_FILE:
                raise TokenstileError("The file is larger than 1 MiB: is it a PSKC file?")
            body: dict[str, Any] = {"pskc_base64": base64.b64encode(data).decode("ascii")}
            if psk:
                body["psk_hex"] = psk
            return ("imported", session.post("/admin/otp/import", body))

        self.run(work, self.tr("Importing…"))

    def assign(self) -> None:
        fob = self.fobs.record()
        username = self.assignee.text().strip()
        if not isinstance(fob, dict):
            self.status.show_error(self.tr("Select a fob first."))
            return
        if not username:
            self.status.show_error(self.tr("Type the username of the person who gets the fob."))
            return
        serial = fob["serial"]
        self.run(
            lambda _ctx, session: (
                "assigned",
                session.post("/admin/otp/assign", {"serial": serial, "username": username}),
            ),
            self.tr("Handing over…"),
        )

    def succeeded(self, record: Any) -> None:
        step, answer = record
        if step == "imported":
            self.imported = list(answer.get("imported", []))
            self.psk.setEnabled(False)
            self.start_button.setVisible(False)
            self.report.setText(
                self.tr("Imported {n} fobs from {packages} key packages.").format(
                    n=len(self.imported), packages=answer.get("packages", len(self.imported))
                )
            )
            for widget in (self.report, self.fobs, self.assign_area):
                widget.setVisible(True)
            self.status.show_success(self.tr("Select each fob and hand it to its person."))
            self._show_fobs()
            self.fobs.selectRow(0)
            self.cancel_button.setText(self.tr("Close"))
            self.cancel_button.setAccessibleName(self.tr("Close"))
            return
        serial = answer.get("serial")
        self.imported = [answer if fob.get("serial") == serial else fob for fob in self.imported]
        self._show_fobs()
        self.fobs.select_where(lambda fob: fob.get("username") is None)
        self.status.show_success(
            self.tr("Handed {serial} to {username}.").format(
                serial=serial, username=answer.get("username")
            )
        )
        self.start_button.setEnabled(True)

    def _show_fobs(self) -> None:
        self.fobs.show_rows(
            [
                (
                    fob,
                    [
                        fob.get("serial", ""),
                        " ".join(filter(None, [fob.get("manufacturer"), fob.get("model")])),
                        str(fob.get("kind", "")).upper(),
                        fob.get("username") or self.tr("not handed out"),
                    ],
                )
                for fob in self.imported
            ]
        )
