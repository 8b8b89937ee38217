"""``tokenstile manage directory add|list|sync``: people from LDAP or Active Directory.

::

    tokenstile manage directory add NAME --url ldaps://HOST --bind-dn DN --password-file F
        --base-dn DN [--filter F] [--group-dn DN] [--admin-group-dn DN]
        [--map username=sAMAccountName,display_name=displayName,email=mail]
        [--ca-file F] [--starttls]
    tokenstile manage directory list
    tokenstile manage directory sync [NAME] [--dry-run]

``add`` checks what it can without the directory (the URL, the map, the password file)
and stores the password file's path, never the password. ``sync`` prints each change it
made (or, with ``--dry-run``, would make) and each entry it refused; it exits 1 when a
directory could not be read (nothing changed for that directory).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from tokenstile.cli.arguments import Subcommands, action_group
from tokenstile.cli.formatting import format_time
from tokenstile.errors import ConfigError, TokenstileError

if TYPE_CHECKING:
    from tokenstile.deployment import Deployment

DIRECTORY_ACTIONS = ("directory",)
ORIGIN = "tokenstile manage"


def add_directory_commands(actions: Subcommands) -> None:
    directory = action_group(actions, "directory", help="people from LDAP / Active Directory")
    add = directory.add_parser("add", help="configure a directory to sync people from")
    add.add_argument("name")
    add.add_argument("--url", required=True, help="ldaps://HOST[:PORT] or ldap://HOST[:PORT]")
    add.add_argument("--bind-dn", required=True, help="the DN the sync binds as (read only)")
    add.add_argument(
        "--password-file", required=True, help="a file (not world-readable) holding its password"
    )
    add.add_argument("--base-dn", required=True, help="where the people entries are")
    add.add_argument("--filter", default=None, help="which entries are people (objectClass=person)")
    add.add_argument("--group-dn", default=None, help="only this group's members are active")
    add.add_argument("--admin-group-dn", default=None, help="this group's members are admins")
    add.add_argument(
        "--map",
        default=None,
        help="attribute map, e.g. username=sAMAccountName,display_name=displayName,email=mail "
        "(default username=uid,display_name=displayName,email=mail)",
    )
    add.add_argument("--ca-file", default=None, help="PEM CA certificates the server must chain to")
    add.add_argument("--starttls", action="store_true", help="upgrade ldap:// with StartTLS")
    directory.add_parser("list", help="the directories and their last sync")
    sync = directory.add_parser("sync", help="sync one directory now (default: every one)")
    sync.add_argument("name", nargs="?")
    sync.add_argument("--dry-run", action="store_true", help="print the changes; write nothing")


def run_directory_command(args: argparse.Namespace, deployment: Deployment) -> int:
    if args.directory_action == "add":
        _add(args, deployment)
        return 0
    if args.directory_action == "list":
        _list(deployment)
        return 0
    return _sync(args, deployment)


def _add(args: argparse.Namespace, deployment: Deployment) -> None:
    from tokenstile.fetch.ldap_directory import check_filter, check_url
    from tokenstile.server.directory_sync import read_password_file
    from tokenstile.store.directory_repository import DirectoryRepository
    from tokenstile.tokens.directory import (
        DEFAULT_FILTER,
        DirectoryConfig,
        check_directory_name,
        parse_attribute_map,
    )

    check_url(args.url, starttls=args.starttls)
    password_file = str(Path(args.password_file).absolute())
    read_password_file(password_file)
    ca_file = None
    if args.ca_file is not None:
        ca_file = str(Path(args.ca_file).absolute())
        if not Path(ca_file).is_file():
            raise ConfigError(f"--ca-file {args.ca_file}: no such file.")
    search_filter = check_filter(args.filter or DEFAULT_FILTER)
    config = DirectoryConfig(
        name=check_directory_name(args.name),
        url=args.url,
        bind_dn=args.bind_dn,
        password_file=password_file,
        base_dn=args.base_dn,
        search_filter=search_filter,
        group_dn=args.group_dn,
        admin_group_dn=args.admin_group_dn,
        attribute_map=parse_attribute_map(args.map),
        ca_file=ca_file,
        starttls=args.starttls,
    )
    DirectoryRepository(deployment.store, clock=deployment.clock).add(config, origin=ORIGIN)
    print(f"Added directory {config.name} ({config.url}); sync it with: ")
    print(f"  tokenstile manage directory sync {config.name} --dry-run")


def _list(deployment: Deployment) -> None:
    from tokenstile.store.directory_repository import DirectoryRepository

    for status in DirectoryRepository(deployment.store, clock=deployment.clock).statuses():
        c = status.config
        last = "never synced"
        if status.last_sync_at is not None:
            outcome = status.last_error or ", ".join(
                f"{n} {k}" for k, n in sorted((status.last_result or {}).items())
            )
            last = f"last sync {format_time(status.last_sync_at)}: {outcome}"
        print(f"{c.name}\t{c.url}\t{c.base_dn}\t{last}")


def _sync(args: argparse.Namespace, deployment: Deployment) -> int:
    from tokenstile.server.directory_sync import DirectorySync

    sync = DirectorySync(deployment.store, deployment.clock)
    names = [args.name] if args.name else sync.directories.names()
    if not names:
        raise ConfigError("No directory is configured (tokenstile manage directory add).")
    status = 0
    for name in names:
        try:
            report = sync.run(name, dry_run=args.dry_run)
        except TokenstileError as exc:
            print(f"{name}: not synced: {exc.message}")
            status = 1
            continue
        prefix = "would " if args.dry_run else ""
        for line in report.plan.lines():
            print(f"{name}: {'' if line.startswith('refused') else prefix}{line}")
        counts = ", ".join(f"{n} {k}" for k, n in report.plan.counts().items())
        print(f"{name}: {'dry run, nothing written' if args.dry_run else 'synced'}: {counts}")
    return status
