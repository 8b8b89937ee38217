"""A real ``tokenstile server`` process with a web app, a native app, and people with fobs;
and a browser of our own (httpx with a cookie jar) that fills in the sign-in page.

``provider`` is one server per module (a start costs about two seconds, mostly imports),
and each test gets its own two apps on it, and makes its own people: what a test counts
(``Provider.count``) and reads from the audit log (``Provider.audit``) is what happened
since its own apps were made, so a test sees nothing its neighbours did. Tests of the
server's rate limits, or of a setting, start their own server (``server_factory``).

The browser reads the page as a browser would: the form's ``action`` and every hidden
input from the HTML, then posts them with the username and a code from the fob.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import secrets
import subprocess
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp
import pytest

with warnings.catch_warnings():
    # Authlib 1.9, the independent client these tests use, deprecates its httpx
    # integration and authlib.jose (which its CodeIDToken still stands on), and its
    # authlib.deprecate turns those warnings to "always" when it is imported; imported
    # here once, quietly, no test module that imports them later warns.
    import authlib.deprecate

    warnings.simplefilter("ignore", DeprecationWarning)
    import authlib.integrations.httpx_client
    import authlib.jose
    import authlib.oidc.core  # noqa: F401

from tests.conftest import ServerProcess, add_user, isolate_paths, launch_server
from tests.integration.store.conftest import db_url
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.otp_service import OtpService
from tokenstile.store.otp_repository import SqlOtpStore

__all__ = ["db_url"]

_C = TypeVar("_C", bound=httpx.Client)
WEB_REDIRECT = "https://app.example/callback"
NATIVE_REDIRECT = "http://127.0.0.1/callback"


class FormReader(HTMLParser):
    """The first form of a page: its action and its hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: dict[str, str] = {}
        self.labels: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "form" and self.action is None:
            self.action = values.get("action")
        if tag == "input" and values.get("type") == "hidden":
            self.hidden[values["name"]] = values.get("value", "")
        if tag == "label":
            self.labels.append(values.get("for", ""))


def read_form(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    return reader


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Fob:
    """An HOTP fob (pyotp computes its codes, independently of the service)."""

    seed: bytes
    counter: int = 0

    def next_code(self) -> str:
        code = pyotp.HOTP(base64.b32encode(self.seed).decode()).at(self.counter)
        self.counter += 1
        return str(code)


def oathtool_totp(seed: bytes) -> str:
    """The current TOTP code from ``oathtool``, an independent generator."""
    return subprocess.run(
        ["oathtool", "--totp", "-b", base64.b32encode(seed).decode()],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()


class Browser:
    """One browser: its own cookie jar, no automatic redirects (we read each Location)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(url, **kwargs)

    def submit(self, page: httpx.Response, **fields: str) -> httpx.Response:
        form = read_form(page.text)
        assert form.action is not None, page.text
        return self.http.post(form.action, data={**form.hidden, **fields})

    def sign_in(self, url: str, username: str, code: str) -> httpx.Response:
        page = self.get(url)
        assert page.status_code == 200, page.text
        return self.submit(page, username=username, code=code)


@dataclass
class Provider:
    """The server, its database (for setup and for checking what was stored), two apps."""

    server: ServerProcess
    setup: Deployment
    web_id: str
    web_secret: str
    native_id: str
    fobs: dict[str, Fob] = field(default_factory=dict)
    browsers: list[Browser] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)
    web_name: str = "Records"
    # What the database held before this test: ``audit`` and ``count`` see only what came
    # after (the server may be shared with the module's earlier tests).
    audit_after: int = 0
    rows_before: dict[str, int] = field(default_factory=dict)
    ids_before: dict[str, int] = field(default_factory=dict)  # the last integer id per table

    def keep(self, client: _C) -> _C:
        """Close ``client`` (an Authlib client is an httpx one) when the test ends."""
        self.clients.append(client)
        return client

    @property
    def base(self) -> str:
        return self.server.base_url

    def browser(self) -> Browser:
        browser = Browser(self.base)
        self.browsers.append(browser)
        return browser

    def person(self, username: str) -> Fob:
        add_user(self.setup, username)
        fob = Fob(os.urandom(20))
        otp = OtpService(SqlOtpStore(self.setup.store), box=self.setup.kek, clock=self.setup.clock)
        otp.enroll_hotp(username, fob.seed, by="test")
        self.fobs[username] = fob
        return fob

    def authorize_url(self, client_id: str, redirect_uri: str, **extra: str) -> str:
        _, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "state": "s-" + secrets.token_hex(4),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.base}/authorize?{urlencode({k: v for k, v in params.items() if v})}"

    def audit(self, event: str) -> list[dict[str, Any]]:
        """The ``event`` entries written since this test's apps were made."""
        return [
            e
            for e in self.setup.store.audit_entries()
            if e["event"] == event and e["id"] > self.audit_after
        ]

    def count(self, table: str) -> int:
        """Rows ``table`` gained since this test's apps were made (all of them on a server
        of the test's own)."""
        return _rows(self.setup, table) - self.rows_before.get(table, 0)

    def take_baseline(self) -> None:
        """From now on ``audit`` and ``count`` see only what this test does."""
        from tokenstile.store import schema as t

        entries = self.setup.store.audit_entries()
        self.audit_after = max((int(e["id"]) for e in entries), default=0)
        self.rows_before = {name: _rows(self.setup, name) for name in t.metadata.tables}
        self.ids_before = {
            name: _last_id(self.setup, name)
            for name, table in t.metadata.tables.items()
            if "id" in table.c and table.c.id.type.python_type is int
        }

    def token(self, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.base}/token", data=data, timeout=10, **kwargs)


def _rows(setup: Deployment, table: str) -> int:
    from sqlalchemy import func, select

    from tokenstile.store import schema as t

    with setup.store.read() as tx:
        return int(
            tx.connection.execute(
                select(func.count()).select_from(t.metadata.tables[table])
            ).scalar_one()
        )


def _last_id(setup: Deployment, table: str) -> int:
    from sqlalchemy import func, select

    from tokenstile.store import schema as t

    column = t.metadata.tables[table].c.id
    with setup.store.read() as tx:
        return int(tx.connection.execute(select(func.max(column))).scalar_one() or 0)


_apps = itertools.count(1)


def _provider(server: ServerProcess) -> Iterator[Provider]:
    # The server's own key file: on a shared server it is not this test's data directory.
    setup = Deployment(load_settings(db=server.settings.db, kek_file=server.settings.kek_file))
    try:
        # Names are unique per server: the module's other tests have their own two apps.
        n = next(_apps)
        web_name = f"Records {n}"
        web, secret = setup.add_client(
            web_name, kind="web", audiences=[], scopes=[], redirect_uris=[WEB_REDIRECT]
        )
        native, _ = setup.add_client(
            f"Desk app {n}",
            kind="native",
            audiences=[],
            scopes=[],
            redirect_uris=[NATIVE_REDIRECT],
        )
        assert secret is not None
        found = Provider(server, setup, web.client_id, secret, native.client_id, web_name=web_name)
        found.take_baseline()
        yield found
        for browser in found.browsers:
            browser.close()
        for client in found.clients:
            client.close()
    finally:
        setup.close()


# The shared server is not about rate limits (tests of those start their own): its limits
# are out of reach of a module's worth of sign-ins and refused codes from one address.
SHARED_SERVER_SETTINGS: dict[str, Any] = {
    "rate_limit_login_failures": 100_000,
    "rate_limit_challenges": 100_000,
}


def shared_server_of(factory: pytest.TempPathFactory, **settings: Any) -> Iterator[ServerProcess]:
    """A ``tokenstile server`` on SQLite for a module's tests (``settings`` on top of
    ``SHARED_SERVER_SETTINGS``), in a folder of its own: ``_isolated_paths`` is per test,
    so this isolates itself the same way."""
    folder = factory.mktemp("oidc-provider")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_paths(folder, monkeypatch)
        server = launch_server(folder, **{**SHARED_SERVER_SETTINGS, **settings})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The module's server (a module may define its own, with its settings)."""
    yield from shared_server_of(tmp_path_factory)


def provider_on(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, fobs: dict[str, Fob] | None = None
) -> Iterator[Provider]:
    """The provider on a shared ``server``: two apps of this test's own. The test's
    ``tokenstile manage`` commands use the server's key file, as an admin's would.
    ``fobs``: the people the module's tests share (made by the first test that signs
    them in; each fob's counter goes on from test to test, as the server's does)."""
    monkeypatch.setenv("TOKENSTILE_KEK_FILE", str(server.settings.kek_file))
    for found in _provider(server):
        if fobs is not None:
            found.fobs = fobs
        yield found


@pytest.fixture
def provider(shared_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    """The provider on SQLite: the module's server, two apps of this test's own."""
    yield from provider_on(shared_server, monkeypatch)


@pytest.fixture
def any_provider(server_factory: Callable[..., ServerProcess], db_url: str) -> Iterator[Provider]:
    """The provider on SQLite and on a real PostgreSQL."""
    yield from _provider(server_factory(db=db_url))
