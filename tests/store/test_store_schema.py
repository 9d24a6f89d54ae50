from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from centralita.store import DATABASE_URL_ENV, Store, resolve_database_url
from centralita.store.migrate import current_revision, head_revision
from centralita.store.models import Base


def test_migrations_build_exactly_the_models_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert current_revision(connection) == head_revision() == "0007"
    tables = set(inspect(store.engine).get_table_names())
    assert {"tenants", "extensions", "registrations", "call_records"} <= tables


def test_opening_again_keeps_the_data(database_url: str) -> None:
    with Store.open(database_url) as first:
        first.tenants.add("acme", "acme.test")
    with Store.open(database_url) as second:
        assert [t.name for t in second.tenants.list()] == ["acme"]


def test_sqlite_file_is_created_private_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "db.sqlite3"
    with Store.open(f"sqlite:///{path}") as store, store.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA busy_timeout").scalar() == 30_000
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_database_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert resolve_database_url(None) == "sqlite:///var/centralita.sqlite3"
    monkeypatch.setenv(DATABASE_URL_ENV, "sqlite:///from-env.db")
    assert resolve_database_url(None) == "sqlite:///from-env.db"
    assert resolve_database_url("sqlite:///given.db") == "sqlite:///given.db"


def test_default_database_is_under_var_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with Store.open() as store:
        store.tenants.add("acme", "acme.test")
    assert (tmp_path / "var" / "centralita.sqlite3").is_file()


def test_in_memory_sqlite_works(tmp_path: Path) -> None:
    with Store.open("sqlite://") as store:
        store.tenants.add("acme", "acme.test")
        assert store.tenants.get_by_domain("acme.test") is not None


_OPEN_AND_WRITE = """
import sys
from centralita.store import Store
store = Store.open(sys.argv[1])
store.tenants.add(f"t{sys.argv[2]}", f"t{sys.argv[2]}.test")
print(len(store.tenants.list()) >= 1)
"""


def test_workers_can_open_a_new_database_concurrently(database_url: str) -> None:
    """One worker per core opens the same (new) database at the same time."""
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AND_WRITE, database_url, str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(6)
    ]
    results = [worker.communicate(timeout=60) for worker in workers]
    assert [w.returncode for w in workers] == [0] * 6, [err for _, err in results]
    with Store.open(database_url) as store:
        assert sorted(t.name for t in store.tenants.list()) == [f"t{i}" for i in range(6)]
