"""`tokenstile login` with the software security key and the virtual PIV card (both
in-process in the login command: no USB or PC/SC needed), against a real token service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.broker.conftest import TokenService, tokenstile
from tokenstile.broker import Broker
from tokenstile.broker.store import KeyringStore
from tokenstile.composition import Services
from tokenstile.devices.connection import DirectConnection
from tokenstile.devices.piv import PivCard, PivSlot
from tokenstile.virtual.piv_card import PivCardApplet

pytestmark = [pytest.mark.server]


def test_login_with_a_security_key_then_with_a_card(
    token_service: Callable[..., TokenService], keychain: KeyringStore, tmp_path: Path
) -> None:
    service = token_service()
    key, card = tmp_path / "key.json", tmp_path / "card.json"
    assert tokenstile("virtual-key", "create", str(key), "--pin", "4711").returncode == 0
    enrolled = tokenstile(
        "manage",
        "--db",
        service.db,
        "fido2",
        "enroll",
        "alice",
        "--device",
        f"virtual:{key}",
        "--pin",
        "4711",
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert tokenstile("virtual-card", "create", str(card)).returncode == 0
    setup = service.deployment()
    try:
        certificate = PivCard(DirectConnection(PivCardApplet.from_file(card))).read_certificate(
            PivSlot.AUTHENTICATION
        )
        Services(setup).piv_service().register(
            "alice", certificate.public_bytes(Encoding.DER), by="test"
        )
    finally:
        setup.close()

    login = tokenstile(
        "login",
        "--server",
        service.url,
        "--factor",
        "fido2",
        "--device",
        f"virtual:{key}",
        stdin="4711\n",
    )
    assert login.returncode == 0, login.stderr
    assert "Touch your key" in login.stderr
    first = Broker().session()
    assert first is not None
    # The software key signs in as one (issue 16): swk, acr phr.
    assert (first.username, first.factor, first.acr) == ("alice", "fido2", "phr")
    assert jwt.decode(Broker().access_token(), options={"verify_signature": False})["amr"] == [
        "swk",
        "pin",
        "mfa",
    ]

    wrong_then_right = "000000\n123456\n"
    login = tokenstile(
        "login",
        "--server",
        service.url,
        "--factor",
        "piv",
        "--device",
        f"virtual:{card}",
        stdin=wrong_then_right,
    )
    assert login.returncode == 0, login.stderr
    assert "Wrong PIN." in login.stderr
    second = Broker().session()
    assert second is not None
    assert (second.username, second.factor, second.amr) == ("alice", "piv", ("sc", "pin", "mfa"))
    assert second.sid != first.sid
    # The key's session was revoked when the card's replaced it.
    revokes = [e for e in service.audit("revoke") if e["sid"] == first.sid]
    assert [e["outcome"] for e in revokes] == ["success"]
