"""Where the repositories get their sessions.

Outside :meth:`Store.transaction` every repository call is its own short transaction; inside
it, all calls share one session and commit (or roll back) together.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from centralita.store.engine import read_only


class Unit:
    def __init__(self, engine: Engine, session: Session | None = None) -> None:
        self.engine = engine
        self._session = session
        self._read_engine = read_only(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        if self._session is not None:
            yield self._session
            return
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        if self._session is not None:
            yield self._session
            return
        with Session(self._read_engine, expire_on_commit=False) as session, session.begin():
            yield session
