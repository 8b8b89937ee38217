from __future__ import annotations

import pytest

from tests.conftest import add_user, kiosk_client, make_deployment


@pytest.mark.postgres
def test_init_and_refresh_on_postgres(postgres_url: str) -> None:
    dep = make_deployment(postgres_url)
    try:
        assert dep.init().created_schema is False
        user = add_user(dep)
        svc = dep.token_service()
        first = svc.open_session(
            user=user, client=kiosk_client(dep), factor="otp", amr=["otp"], acr="otp"
        )
        second = svc.refresh(refresh_token=first.refresh_token, client=kiosk_client(dep))
        assert second.sid == first.sid
    finally:
        dep.close()
