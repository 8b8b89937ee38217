"""``tokenstile demo``: a fresh embedded token service on loopback, ready to look at.

What ``make demo`` runs on a machine without a display: a new SQLite database in its own
folder, a demo person with a session already open, and the service listening on
127.0.0.1. The session is kept as the kiosk demo keeps its own (the keychain item
``demo-session``, see :mod:`tokenstile.demo.session`), so ``tokenstile token`` in another
terminal prints the demo person's token while this runs; it is wiped at the end.
"""

from __future__ import annotations

import os
import shutil
import signal

from tokenstile import paths
from tokenstile.broker import Broker, TokenGrant
from tokenstile.composition import Services
from tokenstile.config import load_settings
from tokenstile.demo.session import DemoSession, open_demo_store, other_terminal_lines
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.factors.otp_enrollment import AppEnrollment, base32_secret, generate_seed
from tokenstile.server.run import serve
from tokenstile.tokens.model import AuditEvent

DEMO_PORT = 8600


def run_demo() -> int:
    folder = paths.data_dir() / "demo"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    database = folder / "tokenstile.db"
    settings = load_settings(
        db=f"sqlite:///{database}",
        kek_file=folder / "kek.key",
        port=int(os.environ.get("TOKENSTILE_PORT", DEMO_PORT)),
        host="127.0.0.1",
    )
    deployment = Deployment(settings)
    try:
        deployment.init()
        user = deployment.store.add_user(
            "demo",
            display_name="Demo Person",
            is_admin=True,
            at=deployment.clock.now(),
            audit=AuditEvent("user_added", "info", username="demo", origin="tokenstile demo"),
        )
        client = deployment.store.find_client(DEFAULT_KIOSK_CLIENT_ID)
        assert client is not None  # noqa: S101 - init registers it
        # An authenticator app for the demo person: scan the QR, or let oathtool play it.
        services = Services(deployment)
        otp = services.otp_service()
        _info, enrollment = otp.enroll_app("demo", by="tokenstile demo", seed=generate_seed())
        # And a session already open, as after a login at the kiosk with the demo's
        # software key (a software-secured key: swk, phr).
        session = services.token_service().sessions.open_session(
            user=user,
            client=client,
            factor="demo",
            amr=["swk", "pin", "mfa"],
            acr="phr",
            origin="tokenstile demo",
        )
    finally:
        deployment.close()
    issuer = settings.issuer_url()
    print(f"Fresh embedded database: {database}")
    print(f"Discovery:  {issuer}/.well-known/openid-configuration")
    print(f"JWKS:       {issuer}/jwks.json")
    print(f"OpenAPI:    {issuer}/docs")
    print()
    print("A demo session for 'demo' (a throwaway database; these tokens are for trying out):")
    print(f"  curl -s {issuer}/userinfo -H 'Authorization: Bearer {session.access_token}'")
    print(
        f"  curl -s {issuer}/token -d grant_type=refresh_token "
        f"-d client_id={DEFAULT_KIOSK_CLIENT_ID} -d refresh_token={session.refresh_token}"
    )
    print("  (run the second twice: the refresh token rotates, and reuse ends the session)")
    print()
    demo_store = open_demo_store(settings)
    broker = Broker(settings=settings, store=demo_store.store)
    published = DemoSession(broker, issuer, shared=demo_store.shared)
    published.publish()
    try:
        # (The service is not up yet: the name comes from /userinfo later, in the apps.)
        broker.save_login(
            TokenGrant.from_json(session.to_json()),
            server=issuer,
            client_id=DEFAULT_KIOSK_CLIENT_ID,
        )
        for line in other_terminal_lines(demo_store, signed_in="demo"):
            print(line)
        print()
        _print_sign_in(enrollment, issuer)
        print(f"Stop it with Ctrl+C (or `kill {os.getpid()}`).", flush=True)
        # uvicorn re-raises the signal that stopped it: let SIGTERM end us through this
        # function's cleanup, as Ctrl+C does, rather than at once.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        serve(settings, log_level="warning", on_ready="Ready.")
    except KeyboardInterrupt:
        pass
    finally:
        published.withdraw(revoke=False)  # the service is gone; its database goes next time
        broker.close()
    return 0


def _exit_cleanly(_number: int, _frame: object) -> None:
    raise SystemExit(0)


def _print_sign_in(enrollment: AppEnrollment, issuer: str) -> None:
    print("Sign in as 'demo' with a one-time code (scan the QR into an authenticator app,")
    print("or generate the code with oathtool):")
    print(enrollment.qr_text())
    secret = base32_secret(enrollment.seed)
    print(
        f"  curl -s {issuer}/login/totp -H 'content-type: application/json' "
        f'-d "{{\\"username\\": \\"demo\\", \\"code\\": \\"$(oathtool --totp -b {secret})\\"}}"'
    )
    print()
