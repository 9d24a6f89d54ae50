"""Extensions of a tenant, with their digest HA1 values (never a password)."""

from __future__ import annotations

import enum
import re
from typing import cast

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from centralita.store.credentials import ha1_column, ha1_pair
from centralita.store.entities import (
    SRTP_POLICIES,
    ExtensionCredentials,
    ExtensionInfo,
    SrtpPolicy,
)
from centralita.store.errors import AlreadyExists, ExtensionNotFound, TenantNotFound
from centralita.store.models import Extension, Tenant
from centralita.store.unit import Unit


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET

# Lookups made for every call (the caller's digest HA1, caller and callee), built once with
# bound parameters: building a SELECT costs more than running it on SQLite.
_BY_NUMBER = select(Extension).where(
    Extension.tenant_id == bindparam("tenant_id"), Extension.number == bindparam("number")
)
# E.164 (ITU-T E.164 §6): "+", then at most 15 digits, the country code not starting with 0.
# Whether the number is valid for its country is the caller's check (phonenumbers).
_E164_SHAPE = re.compile(r"^\+[1-9][0-9]{1,14}$")
_HA1 = {
    name: select(getattr(Extension, name)).where(
        Extension.tenant_id == bindparam("tenant_id"), Extension.number == bindparam("number")
    )
    for name in ("ha1_md5", "ha1_sha256")
}


def to_info(row: Extension) -> ExtensionInfo:
    return ExtensionInfo(
        id=row.id,
        tenant_id=row.tenant_id,
        number=row.number,
        name=row.display_name,
        call_waiting=row.call_waiting,
        has_credentials=row.ha1_md5 is not None and row.ha1_sha256 is not None,
        srtp=cast(SrtpPolicy, row.srtp),
        record_calls=row.record_calls,
        dnd=row.dnd,
        forward_to=row.forward_to,
    )


def _checked_srtp(srtp: str) -> str:
    if srtp not in SRTP_POLICIES:
        raise ValueError(f"SRTP policy must be one of {', '.join(SRTP_POLICIES)}, not {srtp!r}")
    return srtp


class ExtensionRepository:
    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    def add(
        self,
        tenant_id: int,
        number: str,
        *,
        password: str,
        name: str | None = None,
        call_waiting: bool = False,
        srtp: SrtpPolicy = "off",
        record_calls: bool = False,
    ) -> ExtensionInfo:
        with self._unit.write() as session:
            tenant = _tenant(session, tenant_id)
            if _find(session, tenant_id, number) is not None:
                raise AlreadyExists(f"extension {number!r} already exists in {tenant.name!r}")
            md5, sha256 = ha1_pair(number, tenant.domain, password)
            row = Extension(
                tenant_id=tenant_id,
                number=number,
                display_name=name,
                ha1_md5=md5,
                ha1_sha256=sha256,
                call_waiting=call_waiting,
                srtp=_checked_srtp(srtp),
                record_calls=record_calls,
            )
            session.add(row)
            session.flush()
            return to_info(row)

    def update(
        self,
        tenant_id: int,
        number: str,
        *,
        name: str | _Unset | None = UNSET,
        password: str | None = None,
        call_waiting: bool | None = None,
        srtp: SrtpPolicy | None = None,
        record_calls: bool | None = None,
    ) -> ExtensionInfo:
        """Change what is given; ``name=None`` clears the display name."""
        with self._unit.write() as session:
            row = _get(session, tenant_id, number)
            if not isinstance(name, _Unset):
                row.display_name = name
            if password is not None:
                domain = _tenant(session, tenant_id).domain
                row.ha1_md5, row.ha1_sha256 = ha1_pair(number, domain, password)
            if call_waiting is not None:
                row.call_waiting = call_waiting
            if srtp is not None:
                row.srtp = _checked_srtp(srtp)
            if record_calls is not None:
                row.record_calls = record_calls
            session.flush()
            return to_info(row)

    def set_dnd(self, tenant_id: int, number: str, on: bool) -> ExtensionInfo:
        """Turn do-not-disturb on or off (feature codes, the CLI)."""
        with self._unit.write() as session:
            row = _get(session, tenant_id, number)
            row.dnd = on
            session.flush()
            return to_info(row)

    def set_forward(self, tenant_id: int, number: str, target: str | None) -> ExtensionInfo:
        """Forward every call of the extension to ``target``, or stop (None). ``target`` is
        another extension of the tenant or an E.164 number, already normalised by the
        caller: national numbers are dialled by users, the dial plan knows their country.

        Raises ExtensionNotFound for an unknown extension (either one), ValueError for a
        target that is neither or is the extension itself."""
        with self._unit.write() as session:
            row = _get(session, tenant_id, number)
            if target is not None:
                _check_forward_target(session, tenant_id, number, target)
            row.forward_to = target
            session.flush()
            return to_info(row)

    def get(self, tenant_id: int, number: str) -> ExtensionInfo | None:
        with self._unit.read() as session:
            row = _find(session, tenant_id, number)
            return None if row is None else to_info(row)

    def list(self, tenant_id: int) -> list[ExtensionInfo]:
        query = select(Extension).where(Extension.tenant_id == tenant_id).order_by(Extension.number)
        with self._unit.read() as session:
            return [to_info(row) for row in session.scalars(query)]

    def remove(self, tenant_id: int, number: str) -> None:
        """Remove the extension and its registrations; forwards to it are cleared (they
        would lead nowhere, or to whoever gets the number next)."""
        with self._unit.write() as session:
            session.delete(_get(session, tenant_id, number))
            session.execute(
                update(Extension)
                .where(Extension.tenant_id == tenant_id, Extension.forward_to == number)
                .values(forward_to=None)
            )

    def get_ha1(self, tenant_id: int, number: str, algorithm: str) -> str | None:
        """HA1 of the extension for ``algorithm`` ("MD5", "SHA-256", or their "-sess" forms);
        None for an unknown extension or one without credentials."""
        query = _HA1[ha1_column(algorithm)]
        with self._unit.read() as session:
            value: str | None = session.scalar(query, {"tenant_id": tenant_id, "number": number})
            return value

    def get_credentials(
        self, tenant_id: int, number: str, algorithm: str
    ) -> ExtensionCredentials | None:
        """The extension with its HA1 for ``algorithm`` (as :meth:`get_ha1`), read in one
        query: what a digest check needs, then what the request goes on with. None for an
        unknown extension or one without credentials."""
        column = ha1_column(algorithm)
        with self._unit.read() as session:
            row = _find(session, tenant_id, number)
            value: str | None = None if row is None else getattr(row, column)
            if row is None or value is None:
                return None
            return ExtensionCredentials(ha1=value, extension=to_info(row))

    def password_matches(self, tenant_id: int, number: str, password: str) -> bool:
        """Whether ``password`` is the extension's current one (both HA1 values agree)."""
        with self._unit.read() as session:
            row = _find(session, tenant_id, number)
            if row is None or row.ha1_md5 is None:
                return False
            domain = _tenant(session, tenant_id).domain
            return (row.ha1_md5, row.ha1_sha256) == ha1_pair(number, domain, password)


def _tenant(session: Session, tenant_id: int) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound(tenant_id)
    return tenant


def _check_forward_target(session: Session, tenant_id: int, number: str, target: str) -> None:
    if target == number:
        raise ValueError(f"extension {number!r} cannot forward to itself")
    if target.startswith("+"):
        if not _E164_SHAPE.match(target):
            raise ValueError(f"forward target {target!r} is not an E.164 number")
        return
    if _find(session, tenant_id, target) is None:
        raise ExtensionNotFound(_tenant(session, tenant_id).name, target)


def _find(session: Session, tenant_id: int, number: str) -> Extension | None:
    return session.scalar(_BY_NUMBER, {"tenant_id": tenant_id, "number": number})


def _get(session: Session, tenant_id: int, number: str) -> Extension:
    row = _find(session, tenant_id, number)
    if row is None:
        raise ExtensionNotFound(_tenant(session, tenant_id).name, number)
    return row
