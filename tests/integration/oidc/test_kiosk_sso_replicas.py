"""Kiosk single sign-on across replicas: two ``tokenstile server`` processes on one
database (a shared SQLite file, and a real PostgreSQL), the hand-off's three steps on
different ones, a real broker on the OS keychain, and browsers of our own.

Replica A makes the hand-off and takes the browser's claim (its issuer is the sign-in
page's form action); the kiosk is signed in at replica B, so its broker satisfies the
hand-off there and sends the browser back to B's confirmation page. And the attacks: the
same ticket claimed at once on both replicas (one code, one refusal), and a stolen
hand-off and ticket brought to the other replica by another browser.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest

from tests.conftest import PostgresCluster, ServerProcess, free_port, isolate_paths, launch_server
from tests.integration.oidc.conftest import (
    SHARED_SERVER_SETTINGS,
    WEB_REDIRECT,
    Browser,
    Fob,
    Provider,
    _provider,
    provider_on,
    query_of,
)
from tests.integration.oidc.test_kiosk_sso import (
    Kiosk,
    exchange,
    forms,
    kiosk_sso,
    press_continue,
)
from tokenstile.broker import Broker
from tokenstile.broker.sso import KioskSsoListener

pytestmark = pytest.mark.usefixtures("keychain")


@dataclass
class Replicas:
    """The provider as seen through replica A and through replica B, and the kiosk (its
    broker signed in at B, its listener calling B)."""

    a: Provider
    b: Provider
    kiosk: Kiosk


def _kiosk_at(b: Provider, port: int) -> Iterator[Kiosk]:
    """A kiosk signed in at replica B, whose listener calls B."""
    broker = Broker()
    holder: list[Kiosk] = []
    listener = KioskSsoListener(broker, server=b.base, port=port, available=lambda: bool(holder))
    kiosk = Kiosk(broker, listener)
    holder.append(kiosk)
    listener.start()
    try:
        kiosk.sign_in(b, "alice")
        yield kiosk
    finally:
        listener.stop()
        broker.close()


@dataclass
class ReplicaServers:
    """Two replicas on one database, the kiosk port they send browsers to, and the
    people the module's tests on them share (``alice``, her fob's counter going on)."""

    first: ServerProcess
    second: ServerProcess
    port: int
    people: dict[str, Fob]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def replica_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReplicaServers]:
    """The replicas of the module's tests, on a shared SQLite file and on a real
    PostgreSQL; each test has its own apps, browsers and kiosk on them."""
    folder = tmp_path_factory.mktemp("replicas")
    if request.param == "sqlite":
        db = f"sqlite:///{folder / 'store.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        db = cluster.create_database(f"ts_replicas_{os.getpid()}_{secrets.token_hex(4)}")
    port = free_port()
    started: list[ServerProcess] = []
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            isolate_paths(folder, monkeypatch)
            started.append(launch_server(folder, db, kiosk_sso_port=port, **SHARED_SERVER_SETTINGS))
            issuer = started[0].settings.issuer
            started.append(
                launch_server(
                    folder, db, issuer=issuer, kiosk_sso_port=port, **SHARED_SERVER_SETTINGS
                )
            )
        first, second = started
        assert first.base_url != second.base_url
        yield ReplicaServers(first, second, port, {})
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def replicas(
    replica_servers: ReplicaServers, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Replicas]:
    servers = replica_servers
    for a in provider_on(servers.first, monkeypatch, servers.people):
        b = dataclasses.replace(a, server=servers.second)
        for kiosk in _kiosk_at(b, servers.port):
            yield Replicas(a, b, kiosk)


def test_a_hand_off_made_on_one_replica_is_satisfied_on_another_and_claimed(
    replicas: Replicas,
) -> None:
    a, b = replicas.a, replicas.b
    info = replicas.kiosk.broker.session()
    assert info is not None
    browser = a.browser()
    confirm, broker_url, verifier = kiosk_sso(a, browser)
    # The hand-off was made on A, satisfied on B (the broker's redirect went to B's
    # page, which found it satisfied), and the page's button posts to A.
    assert str(confirm.url).startswith(b.base)
    assert confirm.status_code == 200, confirm.text
    assert "Continue as Alice (signed in at this kiosk)" in confirm.text
    assert f"{a.base}/authorize/sso/continue" in forms(confirm.text)
    answer = press_continue(browser, confirm)
    assert answer.status_code == 303, answer.text
    token = exchange(a, query_of(answer.headers["location"])["code"], verifier)
    claims = jwt.decode(token["id_token"], options={"verify_signature": False})
    assert (claims["sid"], claims["sub"]) == (info.sid, "alice")
    successes = [e for e in a.audit("kiosk_sso") if e["outcome"] == "success"]
    assert len(successes) == 1
    # The broker asked again with the same id, now through B: refused there too.
    again = httpx.get(broker_url, timeout=10)
    assert "ticket=" not in again.headers["location"]


def _race(browser: Browser, confirm: httpx.Response, bases: list[str]) -> list[httpx.Response]:
    """Press the same confirmation page's button on each replica at once, each press
    from its own connection with this browser's cookies."""
    fields = forms(confirm.text)[f"{bases[0]}/authorize/sso/continue"]
    clients = [
        httpx.Client(cookies=browser.http.cookies, timeout=10, follow_redirects=False)
        for _ in bases
    ]
    gate = threading.Barrier(len(bases))
    answers: list[httpx.Response | None] = [None] * len(bases)

    def press(i: int) -> None:
        gate.wait()
        answers[i] = clients[i].post(f"{bases[i]}/authorize/sso/continue", data=fields)

    threads = [threading.Thread(target=press, args=(i,)) for i in range(len(bases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    assert all(answer is not None for answer in answers)
    return [answer for answer in answers if answer is not None]


def test_one_ticket_claimed_on_both_replicas_at_once_gives_one_code(replicas: Replicas) -> None:
    a, b = replicas.a, replicas.b
    rounds = 3
    for n in range(rounds):
        browser = a.browser()  # a new browser each round: no sign-in of its own yet
        confirm, _, _ = kiosk_sso(a, browser)
        assert "Continue as Alice" in confirm.text
        answers = _race(browser, confirm, [a.base, b.base])
        won = [r for r in answers if "code=" in r.headers.get("location", "")]
        lost = [r for r in answers if "code=" not in r.headers.get("location", "")]
        assert len(won) == 1, [(r.status_code, r.headers.get("location")) for r in answers]
        assert won[0].status_code == 303
        assert len(lost) == 1
        assert lost[0].status_code == 400
        assert "could not be used" in lost[0].text
        assert a.count("authorization_codes") == n + 1
    assert a.count("kiosk_sso_handoffs") == rounds


def test_a_stolen_hand_off_brought_to_the_other_replica_by_another_browser_is_refused(
    replicas: Replicas,
) -> None:
    """Alice's hand-off, made on A and satisfied on B; Mallory has its way back (the id
    and the ticket) and brings it to B in her own browser: refused, and the right ticket
    in the wrong browser burns the hand-off, so Alice's own press on A gets no code
    either."""
    a, b = replicas.a, replicas.b
    alice = a.browser()
    confirm, _, _ = kiosk_sso(a, alice)
    assert "Continue as Alice" in confirm.text
    way_back = query_of(str(confirm.url))
    mallory = b.browser()
    page = mallory.get(b.authorize_url(b.web_id, WEB_REDIRECT))  # her own cookie, on B
    csrf = forms(page.text)[f"{a.base}/authorize/sso"]["csrf_token"]
    shown = mallory.get(f"{b.base}/authorize/sso/continue", params=way_back)
    assert shown.status_code == 400
    assert "Continue as" not in shown.text
    pressed = mallory.http.post(
        f"{b.base}/authorize/sso/continue", data={**way_back, "csrf_token": csrf}
    )
    assert "code=" not in pressed.headers.get("location", "")
    # Burned on every replica: Alice's press on A.
    late = press_continue(alice, confirm)
    assert "code=" not in late.headers.get("location", "")
    assert late.status_code == 400
    assert a.count("authorization_codes") == 0


def test_a_stranger_filling_the_hand_offs_through_both_replicas_is_rate_limited(
    server_factory: Callable[..., ServerProcess], db_url: str
) -> None:
    """Each ``POST /authorize/sso`` writes a row for whoever asks: the shared
    ``challenges`` limit counts them per address across replicas, before a row is made."""
    port = free_port()
    first = server_factory(db=db_url, kiosk_sso_port=port, rate_limit_challenges=3)
    second = server_factory(
        db=db_url, issuer=first.settings.issuer, kiosk_sso_port=port, rate_limit_challenges=3
    )
    provider = _provider(first)
    a = next(provider)
    try:
        stranger = a.browser()
        page = stranger.get(a.authorize_url(a.web_id, WEB_REDIRECT))
        fields = forms(page.text)[f"{a.base}/authorize/sso"]
        answers = [
            stranger.http.post(f"{base}/authorize/sso", data=fields)
            for base in (first.base_url, second.base_url, first.base_url, second.base_url)
        ]
        assert [r.status_code for r in answers] == [303, 303, 303, 429]
        assert a.count("kiosk_sso_handoffs") == 3
    finally:
        with contextlib.suppress(StopIteration):
            next(provider)
