"""Back-channel logout from two replicas on one PostgreSQL: both drain the same queue,
and each logout token reaches the app exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from tests.admin_tokens import new_admin_headers
from tests.integration.fleet.conftest import Fleet
from tests.integration.oidc.conftest import Provider
from tests.integration.oidc.logout_support import (
    register_app,
    relying_party,
    sign_in_to,
    verify_logout_token,
    wait_for,
)
from tokenstile.store import schema as t

pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
]

PEOPLE = 8


def test_two_replicas_deliver_each_logout_token_once(
    fleet_factory: Callable[..., Fleet],
) -> None:
    fleet = fleet_factory(
        backchannel_poll_interval=0.02,
        backchannel_backoff=0.05,
        backchannel_attempts=3,
        backchannel_timeout=3,
    )
    provider = Provider(fleet.replicas[0], fleet.dep, "", "", "")
    admin = new_admin_headers(fleet.dep)
    with relying_party() as rp:
        app = register_app(provider, rp.url)
        sids = []
        for n in range(PEOPLE):
            provider.person(f"p{n}")
            tokens = sign_in_to(provider, provider.browser(), app, f"p{n}")
            sids.append(json.loads(_payload(tokens["id_token"]))["sid"])
        # Each session ended through either replica, as a balancer would spread them.
        for n, sid in enumerate(sids):
            done = httpx.post(
                f"{fleet.url(n)}/admin/sessions/revoke",
                json={"sid": sid},
                headers=admin,
                timeout=10,
            )
            assert done.status_code == 200, done.text
        delivered = wait_for(
            lambda: provider.audit("backchannel_logout_delivered"),
            until=lambda rows: len(rows) >= PEOPLE,
        )
        received = [rp.take() for _ in range(PEOPLE)]
        jtis = [
            verify_logout_token(provider.base, d.token, client_id=app.client_id)["jti"]
            for d in received
        ]
        assert len(set(jtis)) == PEOPLE  # every logout once...
        assert rp.received.empty()  # ...and none twice: every row is finished already
        assert len(delivered) == PEOPLE
        assert {r["sid"] for r in delivered} == set(sids)
        assert all(r["detail"]["attempts"] == 1 for r in delivered)
        # Each row was claimed once in all (a claim counts an attempt), by either replica.
        q = t.backchannel_logouts
        with fleet.dep.store.read() as tx:
            rows = tx.connection.execute(select(q.c.state, q.c.attempts)).all()
        assert sorted((r.state, r.attempts) for r in rows) == [("delivered", 1)] * PEOPLE
        for browser in provider.browsers:
            browser.close()


def _payload(token: str) -> str:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * 4).decode()
