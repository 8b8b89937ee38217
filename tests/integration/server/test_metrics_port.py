"""The separate metrics listener of a real ``tokenstile server`` process (``metrics_port``)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerProcess, free_port
from tokenstile.config import load_settings
from tokenstile.errors import ConfigError


def test_metrics_on_their_own_loopback_port_and_not_on_the_service_port(
    server_factory: Callable[..., ServerProcess],
) -> None:
    port = free_port()
    server = server_factory(metrics_port=port)
    with server.client() as http:
        for _ in range(2):
            assert http.post("/login/totp", json={"username": "x", "code": "1"}).status_code == 400
        # the service's own port: no token configured, so no /metrics there at all
        assert http.get("/metrics").status_code == 404
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    assert samples[("tokenstile_logins_total", (("factor", "otp"), ("outcome", "failure")))] == 2
    # the metrics listener serves nothing else
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 404


def test_a_token_guards_the_metrics_port_too(
    server_factory: Callable[..., ServerProcess],
) -> None:
    port = free_port()
    token = "t" * 32
    server_factory(metrics_port=port, metrics_token=token)
    url = f"http://127.0.0.1:{port}/metrics"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    good = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert good.status_code == 200
    assert "tokenstile_http_requests_total" in good.text


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"metrics_port": 9100, "metrics_host": "0.0.0.0"}, "metrics_token"),  # noqa: S104
        ({"metrics_token": "short"}, "metrics_token"),
    ],
)
def test_metrics_exposed_without_a_guard_are_refused(
    overrides: dict[str, object], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(**overrides)
