"""``tokenstile demo``: a fresh embedded token service on loopback, ready to look at.

Until the kiosk exists this is what ``make demo`` runs: a new SQLite database in its own
folder, a demo person, and the service listening on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil

from tokenstile import paths
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
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
        deployment.store.add_user(
            "demo",
            display_name="Demo Person",
            is_admin=True,
            at=deployment.clock.now(),
            audit=AuditEvent("user_added", "info", username="demo", origin="tokenstile demo"),
        )
    finally:
        deployment.close()
    issuer = settings.issuer_url()
    print(f"Fresh embedded database: {database}")
    print(f"Discovery:  {issuer}/.well-known/openid-configuration")
    print(f"JWKS:       {issuer}/jwks.json")
    print(f"OpenAPI:    {issuer}/docs")
    print(f"Stop it with Ctrl+C (or `kill {os.getpid()}`).", flush=True)
    serve(settings, log_level="warning", on_ready="Ready.")
    return 0
