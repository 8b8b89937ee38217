"""``rotate-keys --compromised`` against two replicas of one database, in-process.

Replica ``one`` (where the operator runs the command) and replica ``two`` (a server
whose key ring was loaded a moment ago and is not due for a reload) share one database
(SQLite, and PostgreSQL) and one frozen clock, so every "at once" below is at the same
instant. The attack itself, against real server processes and the real CLI, is in
``tests/adversarial/test_key_compromise.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import add_user, kiosk_client, make_deployment
from tokenstile.cli.main import main
from tokenstile.clock import FrozenClock
from tokenstile.deployment import JWKS_PROBE_INTERVAL, KEY_PROBE_INTERVAL, Deployment
from tokenstile.server.app import create_app
from tokenstile.tokens.service import TokenResponse

ISSUER = "https://auth.example"


@pytest.fixture(params=["sqlite", "postgresql"])
def replicas(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> Iterator[tuple[Deployment, Deployment]]:
    url = (
        f"sqlite:///{tmp_path / 'ts.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    one = make_deployment(url, clock)
    two = Deployment(one.settings, clock=clock)
    yield one, two
    two.close()
    one.close()


def sign_in(dep: Deployment, username: str = "alice") -> TokenResponse:
    user = dep.store.find_user(username) or add_user(dep, username)
    return dep.token_service().sessions.open_session(
        user=user, client=kiosk_client(dep), factor="otp", amr=["otp"], acr="otp"
    )


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def test_a_distrusted_key_is_refused_at_once_by_a_replica_with_a_fresh_key_ring(
    replicas: tuple[Deployment, Deployment], clock: FrozenClock
) -> None:
    one, two = replicas
    service = two.token_service()
    session = sign_in(two)
    old = kid_of(session.access_token)
    assert service.introspection.read_access_token(session.access_token) is not None

    key, distrusted = one.distrust_keys()
    assert distrusted == [old]
    assert [k.kid for k in one.store.signing_keys()] == [key.kid]
    assert key.sign_from == clock.now()
    # No time has passed: replica two's ring still holds the old key, yet its own checks
    # (introspection, userinfo, the admin API, exchange, revocation) refuse its tokens.
    assert two.keyring().get(old) is not None
    assert service.introspection.read_access_token(session.access_token) is None

    # Within KEY_PROBE_INTERVAL replica two signs with the new key; the session lives on.
    clock.advance(KEY_PROBE_INTERVAL)
    renewed = service.refresh_grant.refresh(
        refresh_token=session.refresh_token, client=kiosk_client(two)
    )
    assert kid_of(renewed.access_token) == key.kid
    assert renewed.sid == session.sid
    assert service.introspection.read_access_token(renewed.access_token) is not None

    [event] = [e for e in one.store.audit_entries() if e["event"] == "key_compromised"]
    assert event["outcome"] == "alert"
    assert event["detail"] == {"kid": key.kid, "alg": key.alg, "distrusted": [old]}


def test_the_jwks_of_every_replica_drops_a_distrusted_key_at_once(
    replicas: tuple[Deployment, Deployment], clock: FrozenClock
) -> None:
    one, two = replicas
    with TestClient(create_app(two), base_url=ISSUER) as http:
        [old] = [k["kid"] for k in http.get("/jwks.json").json()["keys"]]
        key, _ = one.distrust_keys()
        # The JWKS route checks the store at most every JWKS_PROBE_INTERVAL (0.1 s), far
        # sooner than the signer switches and than the 10 s full reload.
        clock.advance(JWKS_PROBE_INTERVAL + 0.001)  # (just past it, whatever the float rounding)
        assert [k["kid"] for k in http.get("/jwks.json").json()["keys"]] == [key.kid]
        assert old != key.kid


def test_rotate_keys_now_keeps_the_old_key_trusted_until_its_tokens_expire(
    replicas: tuple[Deployment, Deployment], clock: FrozenClock
) -> None:
    one, two = replicas
    service = two.token_service()
    session = sign_in(two)
    old = kid_of(session.access_token)
    new = one.rotate_keys(immediately=True)
    clock.advance(KEY_PROBE_INTERVAL)
    assert service.introspection.read_access_token(session.access_token) is not None
    assert {k.kid for k in two.keyring().published(clock.now())} == {old, new.kid}
    renewed = service.refresh_grant.refresh(
        refresh_token=session.refresh_token, client=kiosk_client(two)
    )
    assert kid_of(renewed.access_token) == new.kid
    assert not [e for e in one.store.audit_entries() if e["event"] == "key_compromised"]


def test_a_normal_rotation_reaches_a_replica_within_the_probe_interval(
    replicas: tuple[Deployment, Deployment], clock: FrozenClock
) -> None:
    one, two = replicas
    ring = two.keyring()
    new = one.rotate_keys()
    assert two.keyring() is ring  # probed a moment ago: no query
    clock.advance(KEY_PROBE_INTERVAL)
    assert two.keyring().get(new.kid) is not None
    probed = two.keyring()
    clock.advance(KEY_PROBE_INTERVAL)
    assert two.keyring() is probed  # the store did not change: the ring is kept


def test_cli_rotate_keys_compromised(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["manage", "--db", db, "init"]) == 0
    assert main(["manage", "--db", db, "rotate-keys"]) == 0  # a key in its publication lead
    capsys.readouterr()
    assert main(["manage", "--db", db, "rotate-keys", "--compromised", "--alg", "EdDSA"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].startswith("New signing key ")
    assert lines[0].endswith("(EdDSA) signs now.")
    assert len([line for line in lines if line.startswith("Distrusted and deleted")]) == 2
    assert "Signing key compromised" in err
    with pytest.raises(SystemExit):
        main(["manage", "--db", db, "rotate-keys", "--now", "--compromised"])
