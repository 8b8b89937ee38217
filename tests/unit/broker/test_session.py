"""The Broker's rules against a fake token service and an in-memory keychain (both have
real-stack twins in tests/integration/broker)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.unit.broker.fakes import SERVER, FakeTokenService, MemoryKeyring, oauth_error
from tokenstile.broker import (
    Broker,
    BrokerError,
    NotLoggedIn,
    ServerUnreachable,
    TokenGrant,
    TokenRefused,
)
from tokenstile.broker.model import StoredSession
from tokenstile.broker.store import SERVICE, SESSION_ITEM, KeyringStore
from tokenstile.clock import FrozenClock


def stored(keychain: MemoryKeyring) -> StoredSession:
    return StoredSession.from_json(keychain.items[(SERVICE, SESSION_ITEM)])


def test_a_login_is_kept_and_its_token_served_without_the_server(
    broker: Broker, keychain: MemoryKeyring, service: FakeTokenService
) -> None:
    info = broker.session()
    assert info is not None
    assert (info.username, info.factor, info.acr, info.sid) == ("alice", "fido2", "phrh", "sid-1")
    assert info.amr == ("hwk", "pin", "mfa")
    token = broker.access_token()
    assert token == stored(keychain).access.access_token
    assert broker.access_token() == token
    assert [r.url.path for r in service.requests] == []


def test_the_memory_serves_until_another_process_signs_out(
    broker: Broker, make_broker: Callable[[], Broker], keychain: MemoryKeyring
) -> None:
    token = broker.access_token()
    keychain.items.clear()  # behind its back: the memory still answers
    assert broker.access_token() == token
    make_broker().logout()  # another process: the stamp changes
    with pytest.raises(NotLoggedIn, match="tokenstile login"):
        broker.access_token()


def test_a_due_token_is_refreshed_once_and_the_rotation_kept(
    broker: Broker, keychain: MemoryKeyring, service: FakeTokenService, clock: FrozenClock
) -> None:
    first = broker.access_token()
    old_refresh = stored(keychain).refresh_token
    clock.advance(service.lifetime - 59)  # 59 s left, min_ttl 60
    second = broker.access_token()
    assert second != first
    assert [f["refresh_token"] for f in service.token_requests()] == [old_refresh]
    assert stored(keychain).refresh_token == service.live_refresh != old_refresh
    assert broker.access_token() == second
    assert len(service.token_requests()) == 1


def test_another_broker_takes_the_refreshed_token_from_the_keychain(
    broker: Broker,
    make_broker: Callable[[], Broker],
    service: FakeTokenService,
    clock: FrozenClock,
) -> None:
    other = make_broker()
    assert other.access_token() == broker.access_token()
    clock.advance(service.lifetime - 30)
    renewed = broker.access_token()
    assert other.access_token() == renewed
    assert len(service.token_requests()) == 1


def test_a_refused_refresh_is_tried_once_more_and_then_signs_out(
    broker: Broker, keychain: MemoryKeyring, service: FakeTokenService
) -> None:
    service.revoked = True
    with pytest.raises(NotLoggedIn, match="session has ended"):
        broker.access_token(min_ttl=10_000)
    assert len(service.token_requests()) == 2
    assert keychain.items == {}
    assert broker.session() is None


def test_a_refresh_refused_as_concurrent_succeeds_on_the_retry(
    broker: Broker, keychain: MemoryKeyring, service: FakeTokenService
) -> None:
    """What the next caller sees after a process was killed mid-refresh."""
    service.script.append(
        lambda _: oauth_error("invalid_grant", "The refresh token was just used; retry.")
    )
    before = stored(keychain).refresh_token
    token = broker.access_token(min_ttl=10_000)
    sent = [f["refresh_token"] for f in service.token_requests()]
    assert sent == [before, before]
    assert token == stored(keychain).access.access_token


def test_a_lost_answer_is_retried_with_the_same_refresh_token(
    broker: Broker, keychain: MemoryKeyring, service: FakeTokenService
) -> None:
    service.script.append(httpx.ReadTimeout("the answer was lost"))
    before = stored(keychain).refresh_token
    broker.access_token(min_ttl=10_000)
    assert [f["refresh_token"] for f in service.token_requests()] == [before, before]


def test_with_the_server_down_the_cached_token_is_served_while_valid(
    broker: Broker, service: FakeTokenService, clock: FrozenClock
) -> None:
    token = broker.access_token()
    service.script.append(httpx.ConnectError("refused"))
    clock.advance(service.lifetime - 10)
    assert broker.access_token() == token  # due, but the server cannot be reached
    assert broker.access_token() == token  # backing off: no second attempt
    assert len(service.token_requests()) == 1
    clock.advance(20)  # expired, and past the back-off
    service.script.append(httpx.ConnectError("refused"))
    with pytest.raises(ServerUnreachable, match="No cached access token is still valid"):
        broker.access_token()
    clock.advance(10)
    assert broker.access_token() != token  # the server is back


def test_tokens_for_other_audiences_come_by_exchange_and_are_cached(
    broker: Broker, make_broker: Callable[[], Broker], service: FakeTokenService
) -> None:
    subject = broker.access_token()
    payroll = broker.access_token(audience="https://payroll.example", scope="payroll:read")
    forms = service.token_requests()
    assert [f["grant_type"] for f in forms] == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    assert forms[0]["subject_token"] == subject
    assert forms[0]["audience"] == "https://payroll.example"
    assert forms[0]["scope"] == "payroll:read"
    assert payroll != subject
    assert broker.access_token(audience="https://payroll.example", scope="payroll:read") == payroll
    fresh = make_broker()  # another app: from the keychain, no request
    assert fresh.access_token(audience="https://payroll.example", scope="payroll:read") == payroll
    assert len(service.token_requests()) == 1
    fresh.access_token(audience="https://payroll.example", scope="payroll:write")
    assert len(service.token_requests()) == 2
    with pytest.raises(TokenRefused, match="may not obtain") as refused:
        broker.access_token(audience="https://forbidden.example")
    assert refused.value.oauth_error == "invalid_target"


def test_logout_revokes_at_the_server_then_forgets(
    broker: Broker, keychain: MemoryKeyring, service: FakeTokenService
) -> None:
    refresh = stored(keychain).refresh_token
    assert broker.logout() is True
    revocations = [r for r in service.requests if r.url.path == "/revoke"]
    assert [dict(httpx.QueryParams(r.content.decode())) for r in revocations] == [
        {"token": refresh, "token_type_hint": "refresh_token", "client_id": "tokenstile-kiosk"}
    ]
    assert keychain.items == {}
    with pytest.raises(NotLoggedIn):
        broker.access_token()


def test_logout_with_the_server_down_still_forgets_and_says_so(
    make_broker: Callable[[], Broker], keychain: MemoryKeyring, service: FakeTokenService
) -> None:
    make_broker().save_login(
        TokenGrant.from_json(service.grant()), server=SERVER, client_id="kiosk"
    )

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    broker = Broker(store=KeyringStore(keychain), transport=httpx.MockTransport(down))
    assert broker.logout() is False
    assert keychain.items == {}


def test_a_new_login_revokes_the_previous_session(
    broker: Broker, keychain: MemoryKeyring, service: FakeTokenService
) -> None:
    old = stored(keychain).refresh_token
    broker.save_login(TokenGrant.from_json(service.grant()), server=SERVER, client_id="kiosk")
    revoked = [
        dict(httpx.QueryParams(r.content.decode()))
        for r in service.requests
        if r.url.path == "/revoke"
    ]
    assert [r["token"] for r in revoked] == [old]
    assert stored(keychain).client_id == "kiosk"


def test_a_damaged_keychain_item_is_no_session(
    make_broker: Callable[[], Broker], keychain: MemoryKeyring
) -> None:
    keychain.items[(SERVICE, SESSION_ITEM)] = '{"version": 1, "server": 3}'
    broker = make_broker()
    assert broker.session() is None
    with pytest.raises(NotLoggedIn):
        broker.access_token()


def test_a_plain_http_server_off_this_machine_is_refused(
    make_broker: Callable[[], Broker], service: FakeTokenService
) -> None:
    with pytest.raises(BrokerError.__mro__[1], match="HTTPS"):
        make_broker().save_login(
            TokenGrant.from_json(service.grant()), server="http://auth.example", client_id="k"
        )
