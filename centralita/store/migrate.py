"""Schema migrations, run programmatically: users need no alembic.ini.

Several workers may open a fresh database at the same moment. The whole upgrade runs in one
transaction that first takes a cross-process lock: on SQLite the ``BEGIN IMMEDIATE`` of our
engine (the database write lock; DDL is transactional there), on PostgreSQL a transaction-level
advisory lock. The second process waits, then finds the schema at head and does nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x43_65_6E_74  # "Cent": any constant shared by every Centralita process


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``, serialised across processes."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        if revision == "head" and current_revision(connection) == head_revision():
            return
        command.upgrade(alembic_config(connection), revision)
