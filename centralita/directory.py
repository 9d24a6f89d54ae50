"""What the SIP side asks of the store, in the SIP side's terms.

The core looks up tenants by domain, extensions and their digest HA1 values, reads and
updates bindings for the registrar, and writes the call log. This adapter is the only place
where those questions meet :class:`centralita.store.Store`; everything else stays unaware of
the database (DESIGN.md: "every feature reaches storage through store/").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from centralita.config.dialplan import DialPlan
from centralita.records.outcome import CallSummary, RecordDraft, drafts
from centralita.records.writer import CallLogWriter
from centralita.store import Store
from centralita.store.entities import (
    Binding,
    CallRecord,
    ExtensionInfo,
    SrtpPolicy,
    TenantInfo,
)
from centralita.store.tenants import normalize_domain

TenantEntry = TenantInfo

# Every request looks its tenant up by domain, an INVITE twice (caller's and Request-URI's),
# while tenants change only on administration. Answers, unknown domains included, are kept this
# long: a tenant added, renamed or removed is seen by the SIP side within these seconds.
TENANT_CACHE_SECONDS = 5.0
# Unknown domains are cached too (a scanner sends many); past this many entries the cache
# starts over rather than grow without bound.
TENANT_CACHE_ENTRIES = 1024


class ExtensionEntry:
    """An extension as the core needs it: number, display name, call waiting, and what the
    user set from the phone (do-not-disturb, an unconditional forward)."""

    __slots__ = ("call_waiting", "dnd", "forward_to", "name", "number", "record_calls", "srtp")

    def __init__(self, info: ExtensionInfo) -> None:
        self.number = info.number
        self.name = info.name or info.number
        self.call_waiting = info.call_waiting
        self.srtp: SrtpPolicy = info.srtp
        self.record_calls = info.record_calls
        self.dnd = info.dnd
        self.forward_to = info.forward_to


class Credentials(NamedTuple):
    """What a digest check needs (the HA1) and what the request goes on with (the extension)."""

    ha1: str
    extension: ExtensionEntry


class Directory:
    """``writer``: the call log is written by that background writer; without one, each
    :meth:`call_ended` writes its rows before returning (what sans-I/O tests rely on)."""

    def __init__(
        self,
        store: Store,
        *,
        writer: CallLogWriter | None = None,
        tenant_ttl: float = TENANT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._writer = writer
        self._tenant_ttl = tenant_ttl
        self._clock = clock
        self._tenants: dict[str, tuple[float, TenantInfo | None]] = {}
        self._default: tuple[float, TenantInfo | None] | None = None
        self._plans: dict[int, tuple[float, DialPlan | None]] = {}

    # ---- tenants and extensions -------------------------------------------------------------

    def tenant_by_domain(self, domain: str) -> TenantInfo | None:
        key = normalize_domain(domain)
        now = self._clock()
        cached = self._tenants.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        tenant = self.store.tenants.get_by_domain(key)
        if len(self._tenants) >= TENANT_CACHE_ENTRIES:
            self._tenants.clear()
        self._tenants[key] = (now + self._tenant_ttl, tenant)
        return tenant

    def default_tenant(self) -> TenantInfo | None:
        now = self._clock()
        if self._default is not None and now < self._default[0]:
            return self._default[1]
        tenant = self.store.tenants.get_default()
        self._default = (now + self._tenant_ttl, tenant)
        return tenant

    def dial_plan(self, tenant_id: int) -> DialPlan | None:
        """The tenant's dial plan (None: plain extension dialling only), cached as tenants
        are: a plan applied is in force within TENANT_CACHE_SECONDS."""
        now = self._clock()
        cached = self._plans.get(tenant_id)
        if cached is not None and now < cached[0]:
            return cached[1]
        plan = self.store.dialplans.get(tenant_id)
        self._plans[tenant_id] = (now + self._tenant_ttl, plan)
        return plan

    def tenant_for_number(self, number: str) -> TenantInfo | None:
        """The tenant owning the virtual number ``number`` (E.164)."""
        tenant_id = self.store.dialplans.tenant_for_number(number)
        return None if tenant_id is None else self.store.tenants.get(tenant_id)

    def tenants_with_plans(self) -> list[int]:
        return self.store.dialplans.list_tenants()

    def extension(self, tenant_id: int, number: str) -> ExtensionEntry | None:
        info = self.store.extensions.get(tenant_id, number) if number else None
        return ExtensionEntry(info) if info is not None else None

    def ha1(self, tenant_id: int, number: str, algorithm: str) -> str | None:
        return self.store.extensions.get_ha1(tenant_id, number, algorithm)

    def credentials(self, tenant_id: int, number: str, algorithm: str) -> Credentials | None:
        """The HA1 for ``algorithm`` and the extension, from one query; None for an unknown
        extension or one without credentials."""
        found = self.store.extensions.get_credentials(tenant_id, number, algorithm)
        return None if found is None else Credentials(found.ha1, ExtensionEntry(found.extension))

    # ---- the location service (registrar) --------------------------------------------------

    def get_bindings(self, tenant_id: int, number: str, now: float) -> list[Binding]:
        return self.store.registrations.get_bindings(tenant_id, number, now)

    def update_bindings(
        self,
        tenant_id: int,
        number: str,
        upserts: list[Binding],
        removals: list[str],
        now: float,
    ) -> list[Binding]:
        with self.store.transaction() as tx:
            for contact in removals:
                tx.registrations.remove_binding(tenant_id, number, contact)
            for binding in upserts:
                tx.registrations.upsert_binding(binding)
            return tx.registrations.get_bindings(tenant_id, number, now)

    def purge_expired(self, now: float) -> int:
        return self.store.registrations.purge_expired(now)

    # ---- the call log ------------------------------------------------------------------------

    def call_ended(self, summary: CallSummary) -> None:
        records = [_record(draft) for draft in drafts(summary)]
        if self._writer is not None:
            self._writer.submit(records)
            return
        with self.store.transaction() as tx:
            for record in records:
                tx.call_records.add(record)


def _record(draft: RecordDraft) -> CallRecord:
    return CallRecord(
        tenant_id=draft.tenant_id,
        call_id=draft.call_id,
        owner=draft.owner,
        direction=draft.direction,  # type: ignore[arg-type]
        caller=draft.caller,
        caller_name=draft.caller_name,
        callee=draft.callee,
        started_at=_utc(draft.started_at),
        answered_at=_maybe_utc(draft.answered_at),
        ended_at=_utc(draft.ended_at),
        wait_seconds=draft.wait_seconds,
        talk_seconds=draft.talk_seconds,
        status=draft.status.value,
        answered_by=draft.answered_by,
        hangup_cause=draft.hangup_cause,
        routing_trace=draft.routing_trace,
        recording=draft.recording,
    )


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _maybe_utc(epoch: float | None) -> datetime | None:
    return _utc(epoch) if epoch is not None else None
