"""Engines, transactions and migrations for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode. A write transaction starts with ``BEGIN IMMEDIATE`` so it takes
the write lock up front: two writers queue on ``busy_timeout`` instead of one failing
with "database is locked" when it tries to upgrade a read lock. PostgreSQL runs at READ
COMMITTED: a conditional UPDATE waits for a concurrent one and re-checks its WHERE.
"""

from __future__ import annotations

import ast
import logging
import os
import sqlite3
import stat
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, column, create_engine, event, inspect, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import ConnectionPoolEntry

from tokenstile.errors import ConfigError, StoreError, StoreNotInitialised, StoreUnavailable
from tokenstile.paths import make_private_dir
from tokenstile.store import audit_feed

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"
_OTHERS = stat.S_IRWXG | stat.S_IRWXO
_WRITE = "tokenstile_write"
# SQLite has one writer at a time. Threads of one process that BEGIN IMMEDIATE together
# wait in SQLite's busy handler, which sleeps 1, 2, 5 ... 100 ms between tries: under
# load that turns a p99 of milliseconds into seconds. They queue on this lock instead;
# other processes still meet at the database's own lock (busy_timeout).
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


@dataclass(frozen=True, kw_only=True)
class PoolOptions:
    """The PostgreSQL connection pool of one worker process.

    ``size`` connections stay open; a request that finds none free waits ``timeout``
    seconds, then gets a 503. No overflow by default: an overflow connection is opened
    for a burst and closed when it is handed back, and a new PostgreSQL backend per
    burst cost a worker 20% of its refresh throughput and tripled its p99 (bench_fleet).
    ``pre_ping`` checks a pooled connection before it is handed out, so a database
    restart costs the requests in flight at that moment and no later one.
    """

    size: int = 10
    max_overflow: int = 0
    timeout: float = 10.0
    recycle: int = 1800
    pre_ping: bool = True
    connect_timeout: int = 5


def create_database_engine(
    url: str, *, sqlite_synchronous: str = "FULL", pool: PoolOptions | None = None
) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"The database URL {url!r} is not valid.") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database, sqlite_synchronous)
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        pool = pool or PoolOptions()
        try:
            return create_engine(
                parsed,
                pool_size=pool.size,
                max_overflow=pool.max_overflow,
                pool_timeout=pool.timeout,
                pool_pre_ping=pool.pre_ping,
                pool_recycle=pool.recycle,
                connect_args={
                    "connect_timeout": pool.connect_timeout,
                    "application_name": "tokenstile",
                },
            )
        except (ImportError, SQLAlchemyError) as exc:
            raise ConfigError(
                f"Cannot use PostgreSQL ({exc}); install tokenstile[postgres]."
            ) from exc
    raise ConfigError(f"Unsupported database {backend!r}: use sqlite:/// or postgresql://.")


def _private_database_file(path: Path) -> None:
    """Create the SQLite file 0600, in a directory created 0700, before SQLite opens it
    (SQLite would create it 0644 under the usual umask); SQLite gives the ``-wal`` and
    ``-shm`` files beside it the database file's mode. An existing file keeps the mode
    its admin gave it: a warning says when other users can read it."""
    try:
        make_private_dir(path.parent)
    except OSError as exc:
        raise StoreUnavailable(
            f"Cannot create the database directory {path.parent}: {exc.strerror}."
        ) from exc
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if os.name == "posix" and path.is_file() and path.stat().st_mode & _OTHERS:
            log.warning(
                "The database file %s is readable by other users (mode %o); run "
                "`chmod 600 %s` unless that is meant.",
                path,
                stat.S_IMODE(path.stat().st_mode),
                path,
            )
        return
    except OSError as exc:
        raise StoreUnavailable(f"Cannot create the database {path}: {exc.strerror}.") from exc
    os.close(fd)  # an empty file is an empty SQLite database


def _private_sidecars(path: Path) -> None:
    """Give SQLite's ``-wal`` and ``-shm`` files no more access than the database has
    (SQLite does so itself; this holds even for a file another program left)."""
    if os.name != "posix":
        return
    try:
        allowed = stat.S_IMODE(path.stat().st_mode)
        for suffix in ("-wal", "-shm"):
            sidecar = Path(f"{path}{suffix}")
            if sidecar.exists() and stat.S_IMODE(sidecar.stat().st_mode) & ~allowed:
                sidecar.chmod(stat.S_IMODE(sidecar.stat().st_mode) & allowed)
    except OSError as exc:
        log.warning("cannot check the modes of %s's -wal and -shm files: %s", path, exc)


def _sqlite_engine(url: str, database: str | None, synchronous: str) -> Engine:
    path: Path | None = None
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        _private_database_file(path)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        if path is not None:
            _private_sidecars(path)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    _SQLITE_WRITERS[engine] = threading.RLock()
    return engine


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One transaction; database failures become StoreUnavailable/StoreError."""
    writer = _SQLITE_WRITERS.get(engine) if write else None
    try:
        with writer or nullcontext(), engine.connect() as plain:
            conn = plain.execution_options(**{_WRITE: True}) if write else plain
            audit_feed.discard(conn)
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                audit_feed.discard(conn)
                raise
            audit_feed.committed(conn)
    except DBAPIError as exc:
        raise store_error(exc) from exc
    except PoolTimeout as exc:
        log.warning("no free database connection within the pool timeout")
        raise StoreUnavailable(
            "Every database connection is busy; retry shortly.", reason="busy"
        ) from exc


def store_error(exc: DBAPIError) -> StoreError:
    """The project's error for a database failure: StoreUnavailable (503) when retrying
    later can help — a lost server, a full or read-only disk — else StoreError."""
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        log.warning("database unavailable: %s", exc.orig.__class__.__name__)
        return _unavailable(exc)
    return StoreError(_describe(exc))


def _reason(exc: DBAPIError) -> str:
    """What went wrong, as ``StoreUnavailable.reason`` names it (``unreachable`` when
    nothing more specific is known)."""
    text = str(exc.orig).strip().splitlines()[0] if exc.orig else ""
    if "readonly" in text or "read-only" in text:
        return "read_only"
    if ("disk" in text and "full" in text) or "No space left" in text:
        return "disk_full"
    return "unreachable"


def _describe(exc: DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig else "unknown error"
    reason = _reason(exc)
    if reason == "read_only":
        return "The database is read-only; check the file's permissions."
    if reason == "disk_full":
        return "The disk holding the database is full."
    if "unable to open" in text:
        return "Cannot open the database file; check the path and its permissions."
    return f"The database failed: {text}"


def _unavailable(exc: DBAPIError) -> StoreUnavailable:
    return StoreUnavailable(_describe(exc), reason=_reason(exc))


# Alembic is imported only to migrate (``manage init``, a test of a migration): the check
# every server start and every command makes (``require_current_schema``) reads the
# version table and the migration files' own revision lines instead. Importing alembic
# (with mako and pygments behind it) cost each of those processes about 0.1 s of CPU.
_VERSION_TABLE = "alembic_version"  # alembic's default; migrations/env.py keeps it
_VERSION = table(_VERSION_TABLE, column("version_num"))


def _alembic_config(conn: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def _revision_lines(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """A migration file's ``revision`` and the revisions it revises; None if the file
    does not say both plainly (then alembic is asked)."""
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text("utf-8")).body:
        # ``revision = "0014"``, or annotated as newer alembic templates write it
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                return None
    revision, down = found.get("revision"), found.get("down_revision", ...)
    if not isinstance(revision, str) or down is ...:
        return None
    downs = () if down is None else (down,) if isinstance(down, str) else down
    if not isinstance(downs, tuple) or not all(isinstance(d, str) for d in downs):
        return None
    return revision, downs


def _head_from_files() -> str | None:
    """The one revision no other migration revises, or None when that is not plain."""
    revised: set[str] = set()
    revisions: set[str] = set()
    for path in sorted((_MIGRATIONS / "versions").glob("*.py")):
        if path.name.startswith("_"):
            continue
        lines = _revision_lines(path)
        if lines is None:
            return None
        revisions.add(lines[0])
        revised.update(lines[1])
    heads = revisions - revised
    if len(heads) != 1 or not revised <= revisions:
        return None
    return heads.pop()


def _alembic_head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def head_revision() -> str | None:
    """The newest migration's revision (alembic's answer whenever the files' revision
    lines do not give a single head plainly)."""
    return _head_from_files() or _alembic_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at: None before the first migration. A version table
    holding several revisions (branches, which this project does not make) is alembic's
    to explain."""
    with transaction(engine, write=False) as conn:
        if not inspect(conn).has_table(_VERSION_TABLE):
            return None
        rows = conn.execute(select(_VERSION.c.version_num)).scalars().all()
        if len(rows) <= 1:
            return str(rows[0]) if rows else None
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command

    try:
        with engine.connect() as conn:
            command.upgrade(_alembic_config(conn), "head")
            if conn.in_transaction():
                conn.commit()
    except OperationalError as exc:
        raise _unavailable(exc) from exc
    except DBAPIError as exc:
        raise StoreError(_describe(exc)) from exc


def require_current_schema(engine: Engine) -> None:
    current = current_revision(engine)
    if current is None:
        raise StoreNotInitialised(
            "The database has no Tokenstile schema yet: run `tokenstile manage init`."
        )
    if current != head_revision():
        raise StoreNotInitialised(
            f"The database schema is at {current}, this version needs {head_revision()}: "
            "run `tokenstile manage init` to upgrade it."
        )


def dialect(engine: Engine) -> str:
    return engine.dialect.name


def describe_engine(engine: Engine) -> dict[str, Any]:
    return {"dialect": engine.dialect.name, "url": redact_url(str(engine.url))}
