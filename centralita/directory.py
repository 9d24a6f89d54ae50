"""What the SIP side asks of the store, in the SIP side's terms.

The core looks up tenants by domain, extensions and their digest HA1 values, reads and
updates bindings for the registrar, and writes the call log. This adapter is the only place
where those questions meet :class:`centralita.store.Store`; everything else stays unaware of
the database (DESIGN.md: "every feature reaches storage through store/").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from centralita.carriers.inbound import PROVIDER
from centralita.config.dialplan import CarrierConfig, DialPlan
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
    :meth:`call_ended` writes its rows before returning (what sans-I/O tests rely on).

    ``carriers``: the provider's carriers (``centralita serve --config``), shared by every
    tenant. Each tenant's :meth:`dial_plan` lists them after its own carriers, so that they
    deliver calls to any tenant's numbers and place the outside calls of a tenant without a
    carrier of its own. A tenant carrier with the name of a provider carrier replaces it for
    that tenant (a carrier's name is unique within a plan: traces, call records and
    registrations name it).
    """

    def __init__(
        self,
        store: Store,
        *,
        writer: CallLogWriter | None = None,
        tenant_ttl: float = TENANT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        carriers: Sequence[CarrierConfig] = (),
    ) -> None:
        self.store = store
        self._writer = writer
        self._tenant_ttl = tenant_ttl
        self._clock = clock
        self._tenants: dict[str, tuple[float, TenantInfo | None]] = {}
        self._default: tuple[float, TenantInfo | None] | None = None
        # tenant id -> (deadline, the stored plan, that plan with the provider's carriers)
        self._plans: dict[int, tuple[float, DialPlan | None, DialPlan | None]] = {}
        self._planned: tuple[float, list[int]] | None = None  # tenants_with_plans, cached
        self._carriers: tuple[CarrierConfig, ...] = ()
        self.set_provider_carriers(carriers)

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
        """The tenant's dial plan with the provider's carriers after its own (None: plain
        extension dialling only, and no carriers), cached as tenants are: a plan applied is
        in force within TENANT_CACHE_SECONDS."""
        return self._cached_plan(tenant_id)[2]

    def tenant_for_number(self, number: str) -> TenantInfo | None:
        """The tenant owning the virtual number ``number`` (E.164)."""
        tenant_id = self.store.dialplans.tenant_for_number(number)
        return None if tenant_id is None else self.store.tenants.get(tenant_id)

    def tenants_with_plans(self) -> list[int]:
        """The tenants :meth:`dial_plan` has a plan for: those with a stored plan, or every
        tenant when the provider has carriers. Every INVITE without credentials asks (is it a
        carrier's?), so the answer is cached as tenants are."""
        now = self._clock()
        if self._planned is not None and now < self._planned[0]:
            return self._planned[1]
        if self._carriers:
            found = [tenant.id for tenant in self.store.tenants.list()]
        else:
            found = self.store.dialplans.list_tenants()
        self._planned = (now + self._tenant_ttl, found)
        return found

    # ---- carriers ----------------------------------------------------------------------------

    @property
    def provider_carriers(self) -> tuple[CarrierConfig, ...]:
        return self._carriers

    def set_provider_carriers(self, carriers: Sequence[CarrierConfig]) -> None:
        """Replace the provider's carriers (names unique: the serve settings check them)."""
        names = [carrier.name for carrier in carriers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider carrier names repeat: {names}")
        self._carriers = tuple(carriers)
        self._plans.clear()
        self._planned = None

    def carriers_by_owner(self) -> dict[int, list[CarrierConfig]]:
        """Every configured carrier once, by owner: the provider's under
        :data:`~centralita.carriers.inbound.PROVIDER`, each tenant's own under its id (what
        the trunk registrations follow: one registration per carrier, not per tenant)."""
        owners: dict[int, list[CarrierConfig]] = {PROVIDER: list(self._carriers)}
        for tenant_id in self.store.dialplans.list_tenants():
            stored = self._cached_plan(tenant_id)[1]
            if stored is not None:
                owners[tenant_id] = list(stored.carriers)
        return owners

    def _cached_plan(self, tenant_id: int) -> tuple[float, DialPlan | None, DialPlan | None]:
        now = self._clock()
        cached = self._plans.get(tenant_id)
        if cached is not None and now < cached[0]:
            return cached
        stored = self.store.dialplans.get(tenant_id)
        entry = (now + self._tenant_ttl, stored, self._with_provider_carriers(stored))
        self._plans[tenant_id] = entry
        return entry

    def _with_provider_carriers(self, plan: DialPlan | None) -> DialPlan | None:
        if not self._carriers:
            return plan
        base = plan if plan is not None else DialPlan()
        own = {carrier.name for carrier in base.carriers}
        shared = [carrier for carrier in self._carriers if carrier.name not in own]
        fields = {name: getattr(base, name) for name in DialPlan.model_fields}
        # Not validated again: the plan was, and so were the provider's carriers. A provider
        # carrier's "national" number format reads numbers in the calling tenant's country
        # (E.164 for a tenant without one), which the plan's own check would refuse.
        return DialPlan.model_construct(**{**fields, "carriers": [*base.carriers, *shared]})

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
