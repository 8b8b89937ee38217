"""Attack 5: strangers spend a card's challenge slots, and learn who is enrolled.

The certificate in a card's slot 9A is public (the card hands it to any reader). A
stranger posts it to ``/login/piv/challenge`` of a real ``tokenstile server`` 50 times;
the cardholder's real login must still work afterwards, and the endpoint must answer an
enrolled certificate and an unknown one alike (status and shape): the refusal comes at
``/login/piv``, with the same sentence as a bad signature.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import Encoding

from tests.adversarial.conftest import AttackedService
from tokenstile.broker.client import TokenServiceClient
from tokenstile.composition import Services
from tokenstile.devices.connection import DirectConnection
from tokenstile.devices.piv import PivCard, PivSlot
from tokenstile.devices.piv_login import login_with_card
from tokenstile.protocol.jose import b64url_decode, b64url_encode
from tokenstile.virtual.piv_card import PivCardApplet

PIN = "123456"
STRANGERS = 50


def _new_card(path: Path) -> bytes:
    made = subprocess.run(
        [str(Path(sys.executable).with_name("tokenstile")), "virtual-card", "create", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert made.returncode == 0, made.stderr
    card = PivCard(DirectConnection(PivCardApplet.from_file(path)))
    return card.read_certificate(PivSlot.AUTHENTICATION).public_bytes(Encoding.DER)


def _shape(response: httpx.Response) -> tuple[int, tuple[str, ...], int, Any]:
    body = response.json()
    challenge = body.get("challenge")
    return (
        response.status_code,
        tuple(sorted(body)),
        len(b64url_decode(challenge)) if isinstance(challenge, str) else -1,
        body.get("expires_in"),
    )


def test_strangers_cannot_exhaust_a_cards_challenges(
    attacked: Callable[..., AttackedService], tmp_path: Path
) -> None:
    service = attacked()
    alice_card = tmp_path / "alice.json"
    alice_certificate = _new_card(alice_card)
    unknown_certificate = _new_card(tmp_path / "nobody.json")
    with service.deployment() as setup:
        Services(setup).piv_service().register("alice", alice_certificate, by="test")

    with service.http() as stranger:
        enrolled = [
            stranger.post(
                "/login/piv/challenge", json={"certificate": b64url_encode(alice_certificate)}
            )
            for _ in range(STRANGERS)
        ]
        unknown = [
            stranger.post(
                "/login/piv/challenge", json={"certificate": b64url_encode(unknown_certificate)}
            )
            for _ in range(10)
        ]
        # An enrolled certificate and an unknown one look the same to a stranger.
        shapes = {_shape(r) for r in enrolled + unknown}
        assert shapes == {(200, ("challenge", "expires_in", "handle"), 32, 120)}, [
            (r.status_code, r.text) for r in enrolled + unknown if r.status_code != 200
        ]
        assert len({r.json()["handle"] for r in enrolled + unknown}) == STRANGERS + 10
        # The refusal of the unknown certificate comes at the second step, worded exactly
        # like a bad signature over an enrolled card's challenge.
        refused_unknown = stranger.post(
            "/login/piv",
            json={"handle": unknown[0].json()["handle"], "signature": b64url_encode(b"x" * 70)},
        )
        bad_signature = stranger.post(
            "/login/piv",
            json={"handle": enrolled[0].json()["handle"], "signature": b64url_encode(b"x" * 70)},
        )
        assert refused_unknown.status_code == bad_signature.status_code == 400
        assert refused_unknown.json() == bad_signature.json()

    # alice's own login, after all that.
    card = PivCard(DirectConnection(PivCardApplet.from_file(alice_card)))
    with TokenServiceClient(service.url) as client:
        grant = login_with_card(card, client.piv_login_steps(), lambda _request: PIN)
    assert grant.access_token
    successes = [e for e in service.audit("piv_login") if e["outcome"] == "success"]
    assert [e["username"] for e in successes] == ["alice"]
