"""``manage client add --kind web|native --redirect-uri``: a web app gets a secret once (a
hash is stored), a native app none; redirect URIs are checked before anything is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_deployment
from tests.unit.test_cli import run
from tokenstile.tokens.clients import client_secret_hash


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _values(out: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        name, _, value = line.partition(": ")
        found.setdefault(name, []).append(value)
    return found


def test_a_web_app_gets_its_secret_once_and_its_redirect_uris(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    run(capsys, "manage", "--db", db, "init")
    code, out, err = run(
        capsys,
        "manage", "--db", db, "client", "add", "Records", "--kind", "web",
        "--redirect-uri", "https://records.example/cb", "https://records.example/cb2",
    )  # fmt: skip
    assert code == 0, err
    values = _values(out)
    assert values["redirect_uri"] == ["https://records.example/cb", "https://records.example/cb2"]
    [client_id], [secret] = values["client_id"], values["client_secret"]
    assert "shown only once" in err
    deployment = make_deployment(db)
    try:
        client = deployment.store.find_client(client_id)
        assert client is not None
        assert client.kind == "web"
        assert client.secret_hash == client_secret_hash(secret)
        assert secret not in repr(deployment.store.audit_entries())
        assert client.audiences == (client_id,)
    finally:
        deployment.close()


def test_a_native_app_is_public_with_a_loopback_redirect(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    run(capsys, "manage", "--db", db, "init")
    code, out, _ = run(
        capsys,
        "manage", "--db", db, "client", "add", "Desk", "--kind", "native",
        "--redirect-uri", "http://127.0.0.1/callback",
    )  # fmt: skip
    assert code == 0
    assert "client_secret" not in out
    assert _values(out)["redirect_uri"] == ["http://127.0.0.1/callback"]


@pytest.mark.parametrize(
    ("kind", "uri"),
    [
        ("web", "http://records.example/cb"),
        ("web", "https://records.example/cb#x"),
        ("web", "https://user@records.example/cb"),
        ("web", "records.example/cb"),
        ("native", "http://localhost/callback"),
        ("native", "com.example.app:/callback"),
        ("native", "http://192.168.1.5/callback"),
    ],
)
def test_a_redirect_uri_that_may_not_be_registered_is_refused(
    capsys: pytest.CaptureFixture[str], db: str, kind: str, uri: str
) -> None:
    run(capsys, "manage", "--db", db, "init")
    code, out, err = run(
        capsys, "manage", "--db", db, "client", "add", "X", "--kind", kind, "--redirect-uri", uri
    )
    assert (code, out) == (1, "")
    assert "is not a redirect URI this client may register" in err
    code, _, err = run(capsys, "manage", "--db", db, "client", "add", "Y", "--kind", kind)
    assert code == 1
    assert "needs at least one --redirect-uri" in err


def test_other_kinds_register_no_redirect_uri(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "manage", "--db", db, "init")
    code, _, err = run(
        capsys,
        "manage", "--db", db, "client", "add", "K", "--kind", "app",
        "--redirect-uri", "https://a.example/cb",
    )  # fmt: skip
    assert code == 2  # a configuration error
    assert "Only web and native clients register redirect URIs." in err


def test_a_web_app_registers_its_logout_uris(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "manage", "--db", db, "init")
    code, out, err = run(
        capsys,
        "manage", "--db", db, "client", "add", "Records", "--kind", "web",
        "--redirect-uri", "https://records.example/cb",
        "--post-logout-redirect-uri", "https://records.example/bye", "http://127.0.0.1:8080/bye",
        "--backchannel-logout-uri", "https://records.example/bcl?tenant=1",
    )  # fmt: skip
    assert code == 0, err
    values = _values(out)
    assert values["post_logout_redirect_uri"] == [
        "https://records.example/bye",
        "http://127.0.0.1:8080/bye",
    ]
    assert values["backchannel_logout_uri"] == ["https://records.example/bcl?tenant=1"]
    deployment = make_deployment(db)
    try:
        client = deployment.store.find_client(values["client_id"][0])
        assert client is not None
        assert client.post_logout_redirect_uris == (
            "https://records.example/bye",
            "http://127.0.0.1:8080/bye",
        )
        assert client.backchannel_logout_uri == "https://records.example/bcl?tenant=1"
    finally:
        deployment.close()


@pytest.mark.parametrize(
    "case",
    [
        ("web", "--post-logout-redirect-uri", "http://records.example/bye", "post-logout"),
        ("web", "--post-logout-redirect-uri", "https://records.example/bye#x", "post-logout"),
        ("web", "--backchannel-logout-uri", "http://records.example/bcl", "back-channel"),
        ("web", "--backchannel-logout-uri", "https://a@records.example/bcl", "back-channel"),
        ("web", "--backchannel-logout-uri", "https://records.example/bcl#f", "back-channel"),
        ("native", "--backchannel-logout-uri", "https://records.example/bcl", "Only web clients"),
    ],
)
def test_a_logout_uri_that_may_not_be_registered_is_refused(
    capsys: pytest.CaptureFixture[str], db: str, case: tuple[str, str, str, str]
) -> None:
    kind, flag, uri, refusal = case
    run(capsys, "manage", "--db", db, "init")
    redirect = "https://r.example/cb" if kind == "web" else "http://127.0.0.1/cb"
    code, out, err = run(
        capsys,
        "manage", "--db", db, "client", "add", "X", "--kind", kind,
        "--redirect-uri", redirect, flag, uri,
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert refusal in err
    deployment = make_deployment(db)
    try:
        assert [c.name for c in deployment.store.list_clients() if c.name == "X"] == []
    finally:
        deployment.close()
