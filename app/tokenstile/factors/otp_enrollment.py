"""Enrolling an authenticator app: a new seed, its ``otpauth://`` Key URI, the QR code.

The URI follows the Key URI format (google-authenticator wiki, "Key-Uri-Format")::

    otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30
    otpauth://hotp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&counter=0

Issuer and account are percent-encoded (a space is ``%20``, never ``+``); the issuer is
given both as the label prefix and as the parameter, as the format recommends. The URI
holds the seed: show it once, never log it.
"""

from __future__ import annotations

import base64
import binascii
import io
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from tokenstile.factors.otp import InvalidOtpParameters, InvalidOtpSecret, OtpParameters

if TYPE_CHECKING:
    import qrcode  # type: ignore[import-untyped]

SEED_BYTES = 20  # 160 bits, RFC 4226 section 4 R6's recommended length
MIN_ADMIN_SEED_BYTES = 10  # 80 bits: the shortest fob seeds met in practice
MAX_SEED_BYTES = 128


def generate_seed(nbytes: int = SEED_BYTES) -> bytes:
    return secrets.token_bytes(nbytes)


def generate_serial(prefix: str = "APP") -> str:
    """A serial for a credential that has none printed on it (an app)."""
    return f"{prefix}-{secrets.token_hex(5).upper()}"


def base32_secret(seed: bytes) -> str:
    """RFC 4648 base32 without padding, as authenticator apps expect."""
    return base64.b32encode(seed).decode("ascii").rstrip("=")


def parse_base32_secret(text: str, *, min_bytes: int = MIN_ADMIN_SEED_BYTES) -> bytes:
    """A seed typed by an admin: case, spaces, hyphens and missing padding tolerated."""
    compact = "".join(text.split()).replace("-", "").upper().rstrip("=")
    if not compact:
        raise InvalidOtpSecret("The secret is empty.")
    try:
        seed = base64.b32decode(compact + "=" * (-len(compact) % 8))
    except (binascii.Error, ValueError) as exc:
        raise InvalidOtpSecret(
            "The secret is not base32 (letters A-Z and digits 2-7 only)."
        ) from exc
    if not min_bytes <= len(seed) <= MAX_SEED_BYTES:
        raise InvalidOtpSecret(
            f"The secret is {len(seed) * 8} bits; between {min_bytes * 8} and "
            f"{MAX_SEED_BYTES * 8} bits are accepted."
        )
    return seed


def _label_part(text: str, what: str) -> str:
    if not text or not text.strip():
        raise InvalidOtpParameters(f"The {what} of an otpauth URI must not be empty.")
    # The Key URI format separates issuer and account with a colon, so neither may hold one.
    if ":" in text:
        raise InvalidOtpParameters(f"The {what} of an otpauth URI must not contain ':'.")
    return quote(text, safe="")


def key_uri(
    params: OtpParameters, seed: bytes, *, issuer: str, account: str, counter: int = 0
) -> str:
    """The ``otpauth://`` URI; ``counter`` (the next HOTP counter) only for HOTP."""
    issuer_q = _label_part(issuer, "issuer")
    account_q = _label_part(account, "account name")
    query = [
        f"secret={base32_secret(seed)}",
        f"issuer={issuer_q}",
        f"algorithm={params.algorithm}",
        f"digits={params.digits}",
    ]
    if params.kind == "totp":
        query.append(f"period={params.period}")
    else:
        if counter < 0:
            raise InvalidOtpParameters("An HOTP counter cannot be negative.")
        query.append(f"counter={counter}")
    return f"otpauth://{params.kind}/{issuer_q}:{account_q}?{'&'.join(query)}"


def _qr(data: str) -> qrcode.QRCode:
    # Imported here, when a code is drawn: every server start and command paid for it.
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_png(data: str) -> bytes:
    """The QR code as PNG bytes (pure Python: PyPNG, no Pillow)."""
    from qrcode.image.pure import PyPNGImage  # type: ignore[import-untyped]

    image = _qr(data).make_image(image_factory=PyPNGImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_text(data: str, *, dark_terminal: bool = True) -> str:
    """The QR code drawn with half blocks for a terminal.

    On a dark terminal the light modules must be the drawn ones, or scanners see a
    negative; ``dark_terminal=False`` draws the dark modules instead.
    """
    out = io.StringIO()
    _qr(data).print_ascii(out=out, invert=dark_terminal)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class AppEnrollment:
    """A new app credential before it is stored. The seed and URI never go in a repr."""

    serial: str
    label: str
    params: OtpParameters
    seed: bytes = field(repr=False)
    uri: str = field(repr=False)

    def qr_png(self) -> bytes:
        return qr_png(self.uri)

    def qr_text(self, *, dark_terminal: bool = True) -> str:
        return qr_text(self.uri, dark_terminal=dark_terminal)


def new_app_enrollment(
    *,
    issuer: str,
    account: str,
    params: OtpParameters | None = None,
    seed: bytes | None = None,
    label: str = "Authenticator app",
    serial: str | None = None,
) -> AppEnrollment:
    """A 160-bit seed (unless an admin supplies one) and its URI.

    The store keeps it ``pending`` until the first valid code, or ``active`` at once when
    the admin supplied the seed (``totp add --secret``).
    """
    params = params or OtpParameters.totp()
    seed = seed if seed is not None else generate_seed()
    uri = key_uri(params, seed, issuer=issuer, account=account)
    return AppEnrollment(serial or generate_serial(), label, params, seed, uri)
