"""Database URLs and engines: SQLite embedded by default, PostgreSQL by URL.

SQLite is tuned for several worker processes sharing one file: WAL journal (readers never
block the writer), ``busy_timeout`` (a writer waits for the lock instead of failing), foreign
keys on (SQLite leaves them off per connection), and write transactions opened with
``BEGIN IMMEDIATE`` so that two processes never both read under a shared lock and then
deadlock while upgrading it (the upgrade fails at once with SQLITE_BUSY, busy_timeout or not).
Read-only work uses a plain deferred ``BEGIN`` through :func:`read_only`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

DATABASE_URL_ENV = "CENTRALITA_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///var/centralita.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_READ_ONLY = "centralita_read_only"


def resolve_database_url(url: str | None = None) -> str:
    """The argument, else ``$CENTRALITA_DATABASE_URL``, else the embedded SQLite file."""
    return url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def normalize_url(url: str) -> URL:
    """Parse ``url``; a bare ``postgresql://`` means psycopg 3, the driver we ship with."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None (in-memory or another backend)."""
    if url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
        return None
    return Path(url.database)


def create_store_engine(url: str) -> Engine:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed)
    return create_engine(parsed, pool_pre_ping=True)


def read_only(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions are deferred (read) transactions on SQLite."""
    return engine.execution_options(**{_READ_ONLY: True})


def _create_sqlite_engine(url: URL) -> Engine:
    path = sqlite_path(url)
    if path is None:
        # One shared connection, or every checkout would see a different empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        _create_private_file(path)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _create_private_file(path: Path) -> None:
    """An empty file is a valid new SQLite database; creating it ourselves makes it 0600
    (it holds HA1 values, which are password equivalents), and SQLite gives its -wal and
    -shm files the same permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module: we emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``journal_mode = WAL`` needs an exclusive lock for a moment. When several workers open
    a new database at once, SQLite may refuse it with SQLITE_BUSY without waiting (its
    deadlock avoidance bypasses busy_timeout), so the switch is retried for a few seconds."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)  # only while opening a database, never per request
        delay = min(delay * 2, 0.5)


def _on_sqlite_begin(connection: Any) -> None:
    read = connection.get_execution_options().get(_READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")
