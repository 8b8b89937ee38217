"""A command-line native app that signs someone in with Tokenstile (RFC 8252), built only
on Authlib: nothing here imports Tokenstile.

It is a public client: no secret, PKCE S256 is what protects its code. It listens on
127.0.0.1 on a port the system picks (a loopback redirect matches at any port, RFC 8252
section 7.3), prints the authorize URL (and opens it in a browser unless ``--no-browser``),
waits for the one redirect with the code, exchanges it, checks the ID token against the
provider's JWKS (Authlib's ``CodeIDToken`` rules: iss, aud, exp, iat, nonce, at_hash) and
prints its claims as JSON.

Run: ``python examples/native-app/native_app.py --issuer URL --client-id ID``
(README.md beside this file).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import warnings
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

with warnings.catch_warnings():
    # Authlib 1.9 deprecates its httpx integration in favour of the httpx2 fork, which is
    # not released on every platform yet; the integration still works. authlib.deprecate
    # turns its warnings to "always" on import, so it is imported first, then silenced.
    import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.common.security import generate_token  # type: ignore[import-untyped]
    from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]
    from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]

CALLBACK_PATH = "/callback"


class Loopback:
    """A one-shot HTTP listener on 127.0.0.1: it takes the first request to the callback
    path, answers the browser with a short page, and hands the full URL to the app."""

    def __init__(self) -> None:
        self.received: queue.Queue[str] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != CALLBACK_PATH:
                    self.send_error(404)
                    return
                body = b"Signed in: you can close this window and go back to the app.\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                received.put(self.path)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    def wait(self, timeout: float) -> str:
        path = self.received.get(timeout=timeout)
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def verify_id_token(
    metadata: dict[str, Any], token: dict[str, Any], *, client_id: str, nonce: str
) -> dict[str, Any]:
    keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=10).json())
    algorithms = list(metadata.get("id_token_signing_alg_values_supported", ["ES256"]))
    decoded = jwt.decode(token["id_token"], keys, algorithms=algorithms)
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"essential": True, "value": metadata["issuer"]}},
        {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=60)
    return dict(claims)


def sign_in(issuer: str, client_id: str, *, open_browser: bool, timeout: float) -> dict[str, Any]:
    metadata: dict[str, Any] = httpx.get(
        f"{issuer}/.well-known/openid-configuration", timeout=10
    ).json()
    if metadata.get("issuer") != issuer:
        raise SystemExit(f"the discovery document names another issuer: {metadata.get('issuer')}")
    loopback = Loopback()
    try:
        with OAuth2Client(
            client_id,
            scope="openid",
            redirect_uri=loopback.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",  # noqa: S106 - a method's name: no secret
        ) as client:
            verifier = generate_token(48)
            nonce = generate_token(20)
            url, state = client.create_authorization_url(
                metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
            print(f"Open this URL to sign in:\n{url}", flush=True)
            if open_browser:
                webbrowser.open(url)
            try:
                response = loopback.wait(timeout)
            except queue.Empty:
                raise SystemExit(f"no sign-in came back within {timeout:.0f} s") from None
            answer = {k: v[0] for k, v in parse_qs(urlsplit(response).query).items()}
            # Any program on this machine can reach the listener: an answer without our
            # state is not the browser's, and its code is never sent anywhere.
            if answer.get("state") != state:
                raise SystemExit("the answer to the callback is not ours (wrong state): refused")
            if "error" in answer:
                raise SystemExit(f"sign-in refused: {answer['error']}")
            # RFC 9207: the answer names the issuer; a mix-up would name another one.
            if answer.get("iss", issuer) != issuer:
                raise SystemExit("the answer came from another issuer")
            token = client.fetch_token(
                metadata["token_endpoint"],
                authorization_response=response,
                code_verifier=verifier,
                state=state,
            )
    finally:
        loopback.close()
    return verify_id_token(metadata, token, client_id=client_id, nonce=nonce)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuer", default=os.environ.get("TOKENSTILE_ISSUER"))
    parser.add_argument("--client-id", default=os.environ.get("NATIVE_APP_CLIENT_ID"))
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait")
    args = parser.parse_args(argv)
    if not args.issuer or not args.client_id:
        parser.error("--issuer (or TOKENSTILE_ISSUER) and --client-id are needed")
    claims = sign_in(
        args.issuer.rstrip("/"),
        args.client_id,
        open_browser=not args.no_browser,
        timeout=args.timeout,
    )
    print("ID token claims:", flush=True)
    print(json.dumps(claims, indent=2, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
