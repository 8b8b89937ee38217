"""Every filesystem location Tokenstile uses, from one place.

Tests redirect all of them with ``TOKENSTILE_DATA_DIR`` (and ``TOKENSTILE_RUNTIME_DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "tokenstile"


def data_dir() -> Path:
    """Where the embedded database and the key file live."""
    override = os.environ.get("TOKENSTILE_DATA_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def runtime_dir() -> Path:
    """Per-user runtime files: locks, sockets."""
    override = os.environ.get("TOKENSTILE_RUNTIME_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False))


def make_private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents as 0700 (whatever the umask), for files
    only this user may read; a directory that already exists is left as it is."""
    missing: list[Path] = []
    here = path
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another process: theirs to set
        directory.chmod(0o700)  # a umask such as 0o277 would have taken more


def default_database_path() -> Path:
    return data_dir() / "tokenstile.db"


def default_database_url() -> str:
    return f"sqlite:///{default_database_path()}"


def default_kek_file() -> Path:
    return data_dir() / "kek.key"
