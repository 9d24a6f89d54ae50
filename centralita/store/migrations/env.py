"""Alembic environment, driven by :func:`centralita.store.migrate.upgrade`.

It never opens a connection itself: the caller hands one over, already inside the
transaction (and the cross-process lock) the whole upgrade runs in.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from centralita.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through centralita.store.migrate.upgrade(engine)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite has no ALTER for most things
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
