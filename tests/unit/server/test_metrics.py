"""``/metrics``: scraped through the ASGI app, parsed with prometheus-client's own text-format
parser, each value checked against the actions the test performed; who may read it; and
that nothing a person or a stranger sends (names, tokens, secrets, paths) shows in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import add_user, make_deployment
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.server.app import create_app
from tokenstile.store.otp_repository import SqlOtpStore

TOKEN = "metrics-token-" + "m" * 24
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
SEED = b"12345678901234567890"
PEER = ("198.51.100.7", 40000)


def scrape(http: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape: (name, labels) -> value."""
    answer = http.get("/metrics", headers=SCRAPE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def dep(tmp_path: Path, clock: FrozenClock) -> Iterator[Deployment]:
    deployment = make_deployment(
        f"sqlite:///{tmp_path / 'ts.db'}",
        clock,
        metrics_token=TOKEN,
        otp_delay_after=4,
        otp_lock_after=4,
        rate_limit_login_failures=8,
    )
    yield deployment
    deployment.close()


@pytest.fixture
def http(dep: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(dep), base_url="https://auth.example", client=PEER) as client:
        yield client


def totp_login(http: TestClient, username: str, code: str) -> Any:
    return http.post("/login/totp", json={"username": username, "code": code})


def test_logins_refreshes_reuse_and_lockouts_count_what_was_done(
    http: TestClient, dep: Deployment, clock: FrozenClock
) -> None:
    add_user(dep, "alice")
    otp = OtpService(SqlOtpStore(dep.store), box=dep.kek, clock=clock)
    otp.enroll_app("alice", by="test", seed=SEED)
    before = scrape(http)

    wrong = totp_code(SEED, clock.now() + 600)
    for _ in range(3):
        assert totp_login(http, "alice", wrong).status_code == 400
    good = totp_login(http, "alice", totp_code(SEED, clock.now()))
    assert good.status_code == 200
    refresh = good.json()["refresh_token"]
    form = {"grant_type": "refresh_token", "client_id": "tokenstile-kiosk"}
    rotated = http.post("/token", data={**form, "refresh_token": refresh})
    assert rotated.status_code == 200
    clock.advance(60)  # past the grace period: presenting the old token again is reuse
    assert http.post("/token", data={**form, "refresh_token": refresh}).status_code == 400

    after = scrape(http)
    delta = {
        key: after.get(key, 0.0) - before.get(key, 0.0)
        for key in after
        if after.get(key, 0.0) != before.get(key, 0.0)
    }
    assert value(delta, "tokenstile_logins_total", factor="otp", outcome="failure") == 3
    assert value(delta, "tokenstile_logins_total", factor="otp", outcome="success") == 1
    assert value(delta, "tokenstile_refreshes_total", outcome="success") == 1
    assert value(delta, "tokenstile_refreshes_total", outcome="alert") == 1
    assert value(delta, "tokenstile_reuse_detections_total", kind="refresh_token") == 1
    assert value(delta, "tokenstile_lockouts_total", scope="credential") == 0
    requests = "tokenstile_http_requests_total"
    assert value(delta, requests, route="/login/totp", method="POST", status="400") == 3
    assert value(delta, requests, route="/login/totp", method="POST", status="200") == 1
    assert value(delta, requests, route="/token", method="POST", status="200") == 1
    assert value(delta, requests, route="/token", method="POST", status="400") == 1
    latency = "tokenstile_http_request_duration_seconds_count"
    assert value(delta, latency, route="/login/totp", method="POST") == 4
    # the audit counters agree with the audit log itself
    logged = [e for e in dep.store.audit_entries() if e["event"] == "otp_login"]
    assert value(after, "tokenstile_audit_events_total", event="otp_login", outcome="failure") == (
        sum(1 for e in logged if e["outcome"] == "failure")
    )

    # a sign-in clears the failures: four in a row lock bob's credential
    add_user(dep, "bob")
    otp.enroll_app("bob", by="test", seed=SEED)
    for _ in range(4):
        assert totp_login(http, "bob", wrong).status_code == 400
    locked = scrape(http)
    assert value(locked, "tokenstile_lockouts_total", scope="credential") == 1
    assert any(e["event"] == "otp_credential_locked" for e in dep.store.audit_entries())


def test_rate_limit_refusals_are_counted_per_limit(http: TestClient) -> None:
    for _ in range(8):
        assert totp_login(http, "nobody", "123456").status_code == 400
    for _ in range(2):
        assert totp_login(http, "nobody", "123456").status_code == 429
    samples = scrape(http)
    assert value(samples, "tokenstile_rate_limit_refusals_total", limit="login_failures") == 2
    requests = "tokenstile_http_requests_total"
    # refused before routing, still counted under the route's template
    assert value(samples, requests, route="/login/totp", method="POST", status="429") == 2


def test_pool_group_commit_and_signing_key_age(
    http: TestClient, dep: Deployment, clock: FrozenClock
) -> None:
    first = scrape(http)
    signer = dep.keyring().signer(clock.now())
    assert value(first, "tokenstile_signing_key_age_seconds") == clock.now() - signer.created_at
    assert value(first, "tokenstile_signing_keys_published") == 1
    assert value(first, "tokenstile_db_pool_size") >= 1
    assert value(first, "tokenstile_db_pool_checked_out") == 0  # nothing in flight now
    batches = value(first, "tokenstile_group_commit_batch_size_count")
    for _ in range(3):
        totp_login(http, "nobody", "123456")  # each counts its failure: one write job
    later = scrape(http)
    assert value(later, "tokenstile_group_commit_batch_size_count") - batches >= 1
    assert value(later, "tokenstile_group_commit_batch_size_sum") >= 3

    clock.advance(3600)
    aged = scrape(http)
    assert value(aged, "tokenstile_signing_key_age_seconds") == clock.now() - signer.created_at
    dep.rotate_keys(immediately=True)
    assert value(scrape(http), "tokenstile_signing_key_age_seconds") == 0


def test_strangers_cannot_read_metrics(http: TestClient) -> None:
    assert http.get("/metrics").status_code == 401
    refused = [
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
        {"X-Forwarded-For": "127.0.0.1", "Host": "127.0.0.1"},
    ]
    for headers in refused:
        answer = http.get("/metrics", headers=headers)
        assert answer.status_code == 401, headers
        assert "tokenstile_" not in answer.text
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert http.get("/metrics", headers=SCRAPE).status_code == 200


def test_without_a_token_metrics_are_not_served_on_the_service_port(
    tmp_path: Path, clock: FrozenClock
) -> None:
    plain = make_deployment(f"sqlite:///{tmp_path / 'plain.db'}", clock)
    try:
        with TestClient(create_app(plain), base_url="https://auth.example") as http:
            assert http.get("/metrics").status_code == 404
            assert http.get("/metrics", headers=SCRAPE).status_code == 404
    finally:
        plain.close()


def test_nothing_sent_by_a_person_or_a_stranger_becomes_a_label(
    http: TestClient, dep: Deployment, clock: FrozenClock
) -> None:
    secret_name = "mallory-7f3e9c"
    add_user(dep, secret_name)
    otp = OtpService(SqlOtpStore(dep.store), box=dep.kek, clock=clock)
    otp.enroll_app(secret_name, by="test", seed=SEED)
    good = totp_login(http, secret_name, totp_code(SEED, clock.now())).json()
    client, client_secret = dep.add_client("api", kind="resource-server", audiences=[], scopes=[])
    assert client_secret is not None
    http.post(
        "/introspect",
        data={"token": good["access_token"]},
        auth=(client.client_id, client_secret),
    )
    http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": good["refresh_token"],
            "client_id": "tokenstile-kiosk",
        },
    )
    stranger_path = "/probe-c0ffee-" + "a" * 40
    http.get(stranger_path)
    http.request("BREW", "/token")
    totp_login(http, '\u202eevil"} 1\nfake_metric 9', "123456")

    text = http.get("/metrics", headers=SCRAPE).text
    for leaked in (
        secret_name,
        good["access_token"],
        good["refresh_token"],
        client_secret,
        client.client_id,
        stranger_path,
        "probe-c0ffee",
        "BREW",
        "evil",
        "fake_metric",
        TOKEN,
    ):
        assert leaked not in text, leaked
    samples = scrape(http)
    requests = "tokenstile_http_requests_total"
    assert value(samples, requests, route="unmatched", method="GET", status="404") == 1
    assert value(samples, requests, route="/token", method="other", status="405") == 1
    routes = {dict(labels).get("route") for (name, labels) in samples if name == requests}
    assert all(r == "unmatched" or (r or "").startswith("/") for r in routes)


def test_postgresql_pool_use_and_logins_per_replica(postgres_url: str, clock: FrozenClock) -> None:
    """Two apps over one PostgreSQL database, as two replicas: each reports the logins it
    served and its own pool (as configured), nothing of the other's."""
    replicas = [
        make_deployment(postgres_url, clock, metrics_token=TOKEN, db_pool_size=3),
        make_deployment(postgres_url, clock, metrics_token=TOKEN, db_pool_size=3),
    ]
    try:
        clients = [
            TestClient(create_app(dep), base_url="https://auth.example", client=PEER)
            for dep in replicas
        ]
        with clients[0] as first, clients[1] as second:
            for _ in range(2):
                totp_login(first, "nobody", "123456")
            totp_login(second, "nobody", "123456")
            one, two = scrape(first), scrape(second)
        failures = {"factor": "otp", "outcome": "failure"}
        assert value(one, "tokenstile_logins_total", **failures) == 2
        assert value(two, "tokenstile_logins_total", **failures) == 1
        for samples in (one, two):
            assert value(samples, "tokenstile_db_pool_size") == 3
            assert value(samples, "tokenstile_db_pool_checked_out") == 0
            assert ("tokenstile_group_commit_batch_size_count", frozenset()) in samples
            assert value(samples, "tokenstile_group_commit_batch_size_count") == 0
    finally:
        for dep in replicas:
            dep.close()
