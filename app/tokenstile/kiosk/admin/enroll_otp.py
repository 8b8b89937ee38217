"""Enrollment of one-time codes: an authenticator app, or fobs from a PSKC file.

- Authenticator app: ``/admin/otp/totp`` gives an otpauth URI, shown as a QR code; the
  first code the app shows confirms it (``/admin/otp/confirm``). Left unconfirmed, the
  pending credential is revoked.
- PSKC file: ``/admin/otp/import`` (every key or none), a report, and each fob handed to a
  person with ``/admin/otp/assign``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import qrcode  # type: ignore[import-untyped]
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QFormLayout, QLabel

from tokenstile.errors import TokenstileError
from tokenstile.kiosk.admin.enroll_frame import EnrollDialog
from tokenstile.kiosk.admin.session import AdminSession
from tokenstile.kiosk.admin.widgets import DevicePage, Table, button, field, field_row
from tokenstile.kiosk.tasks import TaskContext

MAX_PSKC_FILE = 1024 * 1024


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


# -- an authenticator app ------------------------------------------------------------------


class EnrollAppDialog(EnrollDialog):
    def __init__(self, page: DevicePage, person: dict[str, Any]) -> None:
        title = QCoreApplication.translate(
            "EnrollAppDialog", "Set up an authenticator app for {name}"
        )
        super().__init__(page, person, title)
        self.setObjectName("enrollAppDialog")
        self.serial: str | None = None
        self.uri: str | None = None
        self.confirmed = False
        self.label = self.label_field(
            self.tr("Authenticator app"), "appLabel", self.tr("Name of the app"), self.tr("&Name")
        )
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
    def __init__(self, page: DevicePage, path: Path, assign_to: str) -> None:
        super().__init__(
            page,
            {"username": assign_to},
            QCoreApplication.translate("ImportPskcDialog", "Import fobs from {file}"),
            file=path.name,
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
