"""The kiosk demo's other side: a small resource server, and the sample desktop app.

:func:`resource_server_app` is what an API behind Tokenstile looks like: it checks the
bearer (or DPoP) token offline with :class:`~tokenstile.tokens.AccessTokenVerifier`
against the service's JWKS (issuer, audience :data:`DEMO_API_AUDIENCE`, expiry, type,
signature) and answers ``GET /api/hello`` with what the token proves. The demo serves it
on its own loopback port, and registers the sample app as the client
:data:`DEMO_APP_CLIENT_ID` for that audience (:func:`register_sample_app`): the app sends
the API a token narrowed to it by token exchange, never the session's own token, which
the API refuses (a service that held the session's token could trade it for any app's).

:class:`SampleApp` starts ``examples/desktop-app/desktop_app.py`` (a separate process:
it finds the session the way any app on the machine does) beside the kiosk, and stops
it by its PID when the demo ends. It is there in a source checkout; an installed
Tokenstile has no ``examples/`` and the demo says so.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tokenstile.errors import TokenstileError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from tokenstile.deployment import Deployment

HELLO_PATH: Final = "/api/hello"
# The sample app's registration and its API's audience (examples/desktop-app has them too).
DEMO_APP_CLIENT_ID: Final = "tokenstile-demo-app"
DEMO_API_AUDIENCE: Final = "urn:tokenstile:demo-api"
SAMPLE_APP: Final = (
    Path(__file__).resolve().parents[3] / "examples" / "desktop-app" / "desktop_app.py"
)
# Set to "off" to open the kiosk without the sample app's window.
SAMPLE_APP_ENV: Final = "TOKENSTILE_DEMO_SAMPLE_APP"


def register_sample_app(deployment: Deployment) -> None:
    """The sample desktop app as an ``app`` client of the demo API's audience."""
    deployment.add_client(
        "Tokenstile sample desktop app",
        kind="app",
        audiences=[DEMO_API_AUDIENCE],
        scopes=["openid", "profile"],
        client_id=DEMO_APP_CLIENT_ID,
    )


def resource_server_app(issuer: str, base_url: str) -> Starlette:
    """``GET /api/hello`` for a valid access token of ``issuer``'s sessions; 401 without.

    ``base_url``: where this server is reached (a DPoP proof must name it: the URL comes
    from configuration, never from the request's ``Host``)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tokenstile.tokens.verifier import AccessTokenVerifier

    verifier = AccessTokenVerifier(issuer, DEMO_API_AUDIENCE, f"{issuer}/jwks.json")
    hello_url = base_url.rstrip("/") + HELLO_PATH

    def refuse(error: str, description: str) -> JSONResponse:
        return JSONResponse(
            {"error": error, "error_description": description},
            status_code=401,
            headers={"WWW-Authenticate": f'Bearer error="{error}"'},
        )

    # A plain function: Starlette runs it on its thread pool (the JWKS fetch blocks).
    def hello(request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "dpop") or not token.strip():
            return refuse("invalid_request", "Send the access token: Authorization: Bearer ...")
        try:
            claims = verifier.verify(
                token.strip(),
                dpop_proof=request.headers.get("dpop"),
                method=request.method,
                url=hello_url,
            )
        except TokenstileError as exc:
            return refuse("invalid_token", exc.message)
        body: dict[str, Any] = {
            "message": f"Hello, {claims['sub']}: your token checks out.",
            "sub": claims["sub"],
            "acr": claims.get("acr"),
            "amr": claims.get("amr", []),
            "scope": claims.get("scope", ""),
            "exp": claims["exp"],
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route(HELLO_PATH, hello, methods=["GET"])])


class SampleApp:
    """The sample desktop app as a child process of the demo."""

    def __init__(self, resource_url: str, *, script: Path = SAMPLE_APP) -> None:
        self.resource_url = resource_url
        self.script = script
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def available(self) -> bool:
        return self.script.is_file()

    @property
    def command(self) -> str:
        """How to run it by hand (for the opening lines)."""
        return f"{Path(sys.executable).name} {self.script} --resource {self.resource_url}"

    def start(self) -> None:
        # Its output goes where the demo's goes: it says who it sees, in one line per change.
        self.process = subprocess.Popen(  # noqa: S603 - our own script, with this interpreter
            [sys.executable, str(self.script), "--resource", self.resource_url, "--beside-demo"]
        )

    def stop(self) -> None:
        process = self.process
        self.process = None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # by its PID: it is our child
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
