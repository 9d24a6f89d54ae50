"""Persistence: SQLAlchemy models, Alembic migrations and the :class:`Store` facade.

The rest of Centralita sees only :class:`Store` and the frozen dataclasses below.
"""

from centralita.store.call_records import CallRecordFilter
from centralita.store.engine import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    resolve_database_url,
    sqlite_path,
)
from centralita.store.entities import (
    CALL_DIRECTIONS,
    CALL_STATUSES,
    Binding,
    CallDirection,
    CallRecord,
    CallStatus,
    ExtensionInfo,
    TenantInfo,
)
from centralita.store.errors import AlreadyExists, ExtensionNotFound, StoreError, TenantNotFound
from centralita.store.store import Store

__all__ = [
    "CALL_DIRECTIONS",
    "CALL_STATUSES",
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "AlreadyExists",
    "Binding",
    "CallDirection",
    "CallRecord",
    "CallRecordFilter",
    "CallStatus",
    "ExtensionInfo",
    "ExtensionNotFound",
    "Store",
    "StoreError",
    "TenantInfo",
    "TenantNotFound",
    "resolve_database_url",
    "sqlite_path",
]
