"""HTTP details of the token service: a 405 names every method the path serves, and a 503
says what is wrong with the database in words that fit (a full or read-only disk is not
"cannot reach")."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from tests.conftest import add_user, kiosk_client, make_deployment
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.errors import StoreUnavailable
from tokenstile.server.app import create_app
from tokenstile.store.database import transaction

ISSUER = "https://auth.example"


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url=ISSUER) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/userinfo", "GET, POST"),  # two routes, one method each
        ("DELETE", "/admin/users", "GET, POST"),  # in an included router
        ("GET", "/token", "POST"),
        ("DELETE", "/jwks.json", "GET"),
    ],
)
def test_a_405_names_every_method_of_the_path(
    http: TestClient, method: str, path: str, allow: str
) -> None:
    response = http.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "form",
    [
        {"token": "{refresh}", "client_id": "tokenstile-kiosk"},  # /revoke: SQLAlchemy statements
        {  # the refresh grant: statements on the driver's own cursor, in a group commit
            "grant_type": "refresh_token",
            "refresh_token": "{refresh}",
            "client_id": "tokenstile-kiosk",
        },
    ],
    ids=["revoke", "refresh"],
)
def test_a_read_only_database_is_not_called_unreachable(
    tmp_path: Path, form: dict[str, str]
) -> None:
    db = tmp_path / "ts.db"
    setup = make_deployment(f"sqlite:///{db}")
    try:
        session = setup.token_service().sessions.open_session(
            user=add_user(setup), client=kiosk_client(setup), factor="otp", amr=["otp"], acr="otp"
        )
    finally:
        setup.close()
    read_only = Deployment(load_settings(db=f"sqlite:///file:{db}?mode=ro&uri=true", issuer=ISSUER))
    try:
        with TestClient(create_app(read_only), base_url=ISSUER) as http:
            path = "/token" if "grant_type" in form else "/revoke"
            data = {k: v.format(refresh=session.refresh_token) for k, v in form.items()}
            response = http.post(path, data=data)
    finally:
        read_only.close()
    assert response.status_code == 503
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": "The token service cannot store anything right now; retry later.",
    }
    assert response.headers["retry-after"] == "30"


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("unreachable", "cannot reach its database"),
        ("busy", "is busy"),
        ("disk_full", "cannot store anything"),
        ("read_only", "cannot store anything"),
    ],
)
def test_each_reason_has_its_sentence(deployment: Deployment, reason: str, says: str) -> None:
    app = create_app(deployment)

    async def failing() -> None:
        raise StoreUnavailable("details for the log", reason=reason)

    app.add_api_route("/failing", failing)
    with TestClient(app, base_url=ISSUER) as http:
        response = http.get("/failing")
    assert response.status_code == 503
    assert says in response.json()["error_description"]
    assert "details" not in response.text


@pytest.mark.parametrize(
    ("driver_error", "reason"),
    [
        ("database or disk is full", "disk_full"),
        ("could not extend file: No space left on device", "disk_full"),
        ("attempt to write a readonly database", "read_only"),
        ("unable to open database file", "unreachable"),
    ],
)
def test_the_store_says_why_it_is_unavailable(
    deployment: Deployment, driver_error: str, reason: str
) -> None:
    with pytest.raises(StoreUnavailable) as failed, transaction(deployment.engine, write=False):
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError(driver_error))
    assert failed.value.reason == reason
