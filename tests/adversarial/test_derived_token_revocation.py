"""Attack 4: a narrowed token ends the whole session, and /userinfo answers any audience.

The payroll app (or its API, or anyone it leaked the token to) revoked alice's payroll
token and so signed her out of the kiosk; the payroll token also read her profile at
/userinfo. Revoking a derived token (exchanged, or issued for a resource server's
audience) revokes that token only; only the session's own client ends the session; and
/userinfo answers only tokens whose audience is the token service itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.adversarial.conftest import AttackedService, Json
from tests.adversarial.oauth_calls import (
    HR,
    PAYROLL,
    exchange,
    introspect,
    refresh,
    register_payroll_and_hr,
    revoke,
    userinfo,
)
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID


@dataclass
class Scene:
    service: AttackedService
    api: tuple[str, str]  # the payroll API's (a resource server's) credentials
    kiosk: Json  # alice's kiosk session: the token response of her login


@pytest.fixture
def scene(attacked: Callable[..., AttackedService]) -> Scene:
    """alice signed in at the kiosk; the payroll app (JWT audience) and the HR app
    (opaque audience) registered; the payroll API may introspect both audiences."""
    service = attacked()
    with service.deployment() as dep:
        secret = register_payroll_and_hr(
            dep, payroll_scopes=["openid", "payroll:read"], hr_scopes=["openid"]
        )
    return Scene(service, ("payroll-api", secret), service.login("alice"))


def payroll_token(scene: Scene, *, client_id: str = "payroll", audience: str = PAYROLL) -> str:
    with scene.service.http() as http:
        made = exchange(http, scene.kiosk["access_token"], client_id=client_id, audience=audience)
    assert made.status_code == 200, made.text
    token: str = made.json()["access_token"]
    return token


def kiosk_still_refreshes(scene: Scene) -> bool:
    with scene.service.http() as http:
        renewed = refresh(http, scene.kiosk["refresh_token"], client_id=DEFAULT_KIOSK_CLIENT_ID)
    if renewed.status_code != 200:
        return False
    scene.kiosk = renewed.json()
    return True


def test_the_payroll_app_revoking_its_token_leaves_alices_session(scene: Scene) -> None:
    token = payroll_token(scene)
    with scene.service.http() as http:
        assert introspect(http, token, auth=scene.api)["active"] is True
        assert revoke(http, token, client_id="payroll").status_code == 200
        # The revoked payroll token is dead at once, for the payroll API too.
        assert introspect(http, token, auth=scene.api) == {"active": False}
        # alice's kiosk session lives: her local token still answers, it still refreshes.
        assert userinfo(http, scene.kiosk["access_token"]).status_code == 200
    assert kiosk_still_refreshes(scene)
    # A fresh payroll token from the same session works.
    fresh = payroll_token(scene)
    with scene.service.http() as http:
        assert introspect(http, fresh, auth=scene.api)["active"] is True


def test_a_revoked_opaque_token_is_dead_and_the_session_lives(scene: Scene) -> None:
    token = payroll_token(scene, client_id="hr", audience=HR)
    assert token.count(".") == 0
    with scene.service.http() as http:
        assert introspect(http, token, auth=scene.api)["active"] is True
        assert revoke(http, token, client_id="hr").status_code == 200
        assert introspect(http, token, auth=scene.api) == {"active": False}
    assert kiosk_still_refreshes(scene)


def test_a_token_for_a_resource_audience_revoked_by_the_sessions_own_app(
    scene: Scene,
) -> None:
    """alice signs in directly at the payroll app: its access token is for the payroll
    API. Revoking that token kills the token; the app's refresh token ends the session."""
    direct = scene.service.login("alice", client_id="payroll")
    with scene.service.http() as http:
        assert revoke(http, direct["access_token"], client_id="payroll").status_code == 200
        assert introspect(http, direct["access_token"], auth=scene.api) == {"active": False}
        again = refresh(http, direct["refresh_token"], client_id="payroll")
        assert again.status_code == 200, again.text
        assert revoke(http, again.json()["refresh_token"], client_id="payroll").status_code == 200
        ended = refresh(http, again.json()["refresh_token"], client_id="payroll")
        assert ended.status_code == 400
        assert introspect(http, again.json()["access_token"], auth=scene.api) == {"active": False}
    assert kiosk_still_refreshes(scene)  # the kiosk session is another session


def test_another_client_cannot_revoke_the_sessions_tokens(scene: Scene) -> None:
    with scene.service.http() as http:
        for token in (scene.kiosk["access_token"], scene.kiosk["refresh_token"]):
            assert revoke(http, token, client_id="payroll").status_code == 400
    assert kiosk_still_refreshes(scene)


def test_userinfo_answers_only_the_services_own_audience(scene: Scene) -> None:
    payroll = payroll_token(scene)
    opaque = payroll_token(scene, client_id="hr", audience=HR)
    with scene.service.http() as http:
        for token in (payroll, opaque):
            refused = userinfo(http, token)
            assert refused.status_code == 401, refused.text
            assert "alice" not in refused.text
        answered = userinfo(http, scene.kiosk["access_token"])
        assert answered.status_code == 200, answered.text
        assert answered.json()["sub"] == "alice"


def test_the_sessions_own_client_still_ends_the_session(scene: Scene) -> None:
    payroll = payroll_token(scene)
    with scene.service.http() as http:
        done = revoke(http, scene.kiosk["refresh_token"], client_id=DEFAULT_KIOSK_CLIENT_ID)
        assert done.status_code == 200
        assert (
            refresh(
                http, scene.kiosk["refresh_token"], client_id=DEFAULT_KIOSK_CLIENT_ID
            ).status_code
            == 400
        )
        assert userinfo(http, scene.kiosk["access_token"]).status_code == 401
        # Ending the session ends what was derived from it.
        assert introspect(http, payroll, auth=scene.api) == {"active": False}
    revoked = [e for e in scene.service.audit("revoke") if e["outcome"] == "success"]
    assert [e["client_id"] for e in revoked] == [DEFAULT_KIOSK_CLIENT_ID]


def test_the_sessions_own_client_revoking_its_local_access_token_ends_it(scene: Scene) -> None:
    with scene.service.http() as http:
        done = revoke(http, scene.kiosk["access_token"], client_id=DEFAULT_KIOSK_CLIENT_ID)
        assert done.status_code == 200
        assert (
            refresh(
                http, scene.kiosk["refresh_token"], client_id=DEFAULT_KIOSK_CLIENT_ID
            ).status_code
            == 400
        )
