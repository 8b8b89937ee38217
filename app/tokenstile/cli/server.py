"""``tokenstile server``: run the token service (:mod:`tokenstile.server.run`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tokenstile.cli.arguments import Subcommands


def add_server_command(commands: Subcommands) -> None:
    server = commands.add_parser("server", help="run the token service")
    server.add_argument("--db")
    server.add_argument("--host")
    server.add_argument("--port", type=int)
    server.add_argument("--issuer")
    server.add_argument("--tls-cert", type=Path)
    server.add_argument("--tls-key", type=Path)
    server.add_argument("--rp-id", help="WebAuthn RP ID (default: the issuer's host name)")
    server.add_argument(
        "--workers", type=int, help="worker processes sharing the socket (1 to 64; default 1)"
    )


def run_server_command(args: argparse.Namespace) -> int:
    """Serve until stopped; the exit status."""
    from tokenstile.config import load_settings
    from tokenstile.server.run import serve

    settings = load_settings(
        args.config,
        db=args.db,
        host=args.host,
        port=args.port,
        issuer=args.issuer,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        rp_id=args.rp_id,
        workers=args.workers,
    )
    issuer = settings.issuer_url()
    serve(
        settings,
        log_level=args.log_level.lower(),
        on_ready=f"Tokenstile token service at {issuer}/.well-known/openid-configuration",
    )
    return 0
