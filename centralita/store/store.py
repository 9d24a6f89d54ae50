"""The ``Store`` facade: every feature reaches the database through it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from centralita.store.call_records import CallRecordRepository
from centralita.store.call_requests import CallRequestRepository
from centralita.store.dialplans import DialPlanRepository
from centralita.store.engine import create_store_engine, resolve_database_url
from centralita.store.extensions import ExtensionRepository
from centralita.store.migrate import upgrade
from centralita.store.registrations import RegistrationRepository
from centralita.store.tenants import TenantRepository
from centralita.store.unit import Unit
from centralita.store.voicemail import VoicemailRepository


class Store:
    """Repositories over one database: ``store.tenants``, ``.extensions``,
    ``.registrations``, ``.call_records``, ``.voicemail``, ``.dialplans`` and
    ``.call_requests``.

    Each repository call is one transaction, unless made inside :meth:`transaction`.
    Methods are synchronous: asyncio code calls them through ``asyncio.to_thread``.
    """

    def __init__(self, engine: Engine, *, url: str, _session: Session | None = None) -> None:
        self.engine = engine
        self.url = url
        unit = Unit(engine, _session)
        self.tenants = TenantRepository(unit)
        self.extensions = ExtensionRepository(unit)
        self.registrations = RegistrationRepository(unit)
        self.call_records = CallRecordRepository(unit)
        self.voicemail = VoicemailRepository(unit)
        self.dialplans = DialPlanRepository(unit)
        self.call_requests = CallRequestRepository(unit)

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open the database at ``url`` (default: $CENTRALITA_DATABASE_URL, else the SQLite
        file ``var/centralita.sqlite3``), creating it and migrating its schema to head.
        Safe to call from several processes at once on the same database."""
        resolved = resolve_database_url(url)
        engine = create_store_engine(resolved)
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, url=resolved)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def shares_one_connection(self) -> bool:
        """Whether every session runs on the same DBAPI connection (in-memory SQLite): such
        a store must be used by one thread at a time, or transactions would interleave. File
        SQLite and PostgreSQL give each thread a pooled connection of its own."""
        return isinstance(self.engine.pool, StaticPool)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """A view of the store whose calls all commit together when the block ends, or
        none of them if it raises."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield Store(self.engine, url=self.url, _session=session)
