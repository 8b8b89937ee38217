"""Access tokens for tests of the admin API, minted by the deployment's own token service
(a session opened as if the person had just signed in with a code)."""

from __future__ import annotations

from tests.conftest import add_user
from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID, Deployment
from tokenstile.tokens.model import User


def token_for(dep: Deployment, user: User, client_id: str = DEFAULT_ADMIN_CLIENT_ID) -> str:
    """An access token of ``user`` from a new session with ``client_id``."""
    client = dep.store.find_client(client_id)
    assert client is not None
    return (
        dep.token_service()
        .sessions.open_session(user=user, client=client, factor="otp", amr=["otp"], acr="otp")
        .access_token
    )


def new_admin_headers(dep: Deployment, username: str = "root") -> dict[str, str]:
    """Adds the admin ``username`` and gives the ``Authorization`` header of a token of theirs."""
    admin = add_user(dep, username, is_admin=True)
    return {"Authorization": f"Bearer {token_for(dep, admin)}"}


def admin_headers(dep: Deployment, username: str = "root") -> dict[str, str]:
    """The ``Authorization`` header of a new token of the admin ``username``, who is added
    first if the database has no such person yet (a server shared by a module's tests)."""
    admin = dep.store.find_user(username)
    if admin is None:
        return new_admin_headers(dep, username)
    assert admin.is_admin, f"{username} is not an admin"
    return {"Authorization": f"Bearer {token_for(dep, admin)}"}
