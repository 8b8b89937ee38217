"""The schema check every server start and every command makes, without alembic.

``current_revision`` reads the version table and ``head_revision`` the migration files'
revision lines; alembic (``MigrationContext``, ``ScriptDirectory``) is the independent
answer they must agree with, on SQLite and a real PostgreSQL, at every revision. A
database at an older revision, at one this version does not know, or with no schema, is
refused as before; and a started deployment has not imported alembic at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from tests.conftest import ROOT, make_deployment
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.errors import StoreNotInitialised
from tokenstile.store import database
from tokenstile.store.database import (
    _alembic_config,
    current_revision,
    head_revision,
    require_current_schema,
)

MIGRATIONS = Path(database.__file__).parent / "migrations"


def alembic_head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def alembic_current(dep: Deployment) -> str | None:
    with dep.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def every_revision() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return [s.revision for s in ScriptDirectory.from_config(config).walk_revisions()]


@pytest.fixture
def dep(db_url: str) -> Iterator[Deployment]:
    deployment = make_deployment(db_url, FrozenClock())
    yield deployment
    deployment.close()


def test_the_head_is_alembics_head() -> None:
    assert head_revision() == alembic_head()
    assert head_revision() == every_revision()[0]


def test_the_current_revision_is_alembics_at_every_revision(dep: Deployment) -> None:
    assert current_revision(dep.engine) == alembic_current(dep) == head_revision()
    require_current_schema(dep.engine)
    for older in every_revision()[1:4]:
        with dep.engine.connect() as conn:
            command.downgrade(_alembic_config(conn), older)
            if conn.in_transaction():
                conn.commit()
        assert current_revision(dep.engine) == alembic_current(dep) == older
        with pytest.raises(StoreNotInitialised, match=f"at {older}, this version needs"):
            require_current_schema(dep.engine)


def test_a_database_from_a_newer_version_or_without_a_schema_is_refused(
    dep: Deployment, tmp_path: Path
) -> None:
    with dep.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert current_revision(dep.engine) == alembic_current(dep) == "9999"
    with pytest.raises(StoreNotInitialised, match="at 9999, this version needs"):
        require_current_schema(dep.engine)

    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert current_revision(empty) is None
        with pytest.raises(StoreNotInitialised, match="no Tokenstile schema yet"):
            require_current_schema(empty)
    finally:
        empty.dispose()


def test_a_migration_file_that_is_not_plain_is_left_to_alembic(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A revision line that is not a literal (or a second head) is not guessed at: the
    head is then alembic's own answer."""
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_a.py").write_text('revision = "0001"\ndown_revision = None\n')
    (versions / "0002_b.py").write_text('revision = "00" + "02"\ndown_revision = "0001"\n')
    monkeypatch.setattr(database, "_MIGRATIONS", tmp_path / "migrations")
    assert database._head_from_files() is None
    (versions / "0002_b.py").write_text('revision = "0002"\ndown_revision = "0001"\n')
    (versions / "0003_c.py").write_text('revision = "0003"\ndown_revision = "0001"\n')
    assert database._head_from_files() is None  # two heads
    (versions / "0003_c.py").write_text('revision = "0003"\ndown_revision = ("0001", "0002")\n')
    assert database._head_from_files() == "0003"
    (versions / "0004_d.py").write_text(
        'revision: str = "0004"\ndown_revision: str | None = "0003"\n'
    )
    assert database._head_from_files() == "0004"  # annotated, as newer templates write
    (versions / "0004_d.py").unlink()
    (versions / "0003_c.py").write_text('revision = "0003"\ndown_revision = "0077"\n')
    assert database._head_from_files() is None  # revises a revision that is not there


def test_a_started_deployment_has_not_imported_alembic(tmp_path: Path) -> None:
    """What ``tokenstile server`` does before it serves, in a fresh interpreter: neither
    alembic nor qrcode (imported when a QR code is drawn) is loaded."""
    db = f"sqlite:///{tmp_path / 'ts.db'}"
    make_deployment(db).close()
    script = (
        "import sys\n"
        "from tokenstile.config import load_settings\n"
        "from tokenstile.deployment import Deployment\n"
        "from tokenstile.server.app import create_app\n"
        f"d = Deployment(load_settings(db={db!r}))\n"
        "d.require_ready()\n"
        "create_app(d)\n"
        "d.close()\n"
        "heavy = ('alembic', 'mako', 'qrcode')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), str(ROOT)])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
