"""The server side of routed calls: what routing features ask of the PBX (RoutingEnv), which
phones a dial rings (DialPlanner), and the task that runs a call through the dial plan.

A routed call is one the core hands over to the dial plan instead of bridging it straight
to an extension's phones: calls from carriers to virtual numbers, short numbers of IVRs,
ring groups and conference rooms, external numbers, feature codes, and extensions whose
user has forwarding, simultaneous ring, do-not-disturb or voicemail. The call runs as a
:class:`~centralita.live.LiveCall` task through :mod:`centralita.routing.flow`; it holds the
caller's extension busy while it lasts, and each phone it rings while that rings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from centralita.calls.call import Party
from centralita.calls.outbound import OutboundTarget
from centralita.config.dialplan import DialPlan, FeatureCodes, VirtualNumberConfig
from centralita.directory import Directory, TenantEntry
from centralita.live import LiveCall
from centralita.media.uploads import tenant_dir
from centralita.ringing import PlannedLeg
from centralita.routing.context import CallerHungUp, DialStatus, DialTarget
from centralita.sip.address import Address
from centralita.sip.errors import NotFound
from centralita.store.voicemail import VoicemailMessage

if TYPE_CHECKING:
    from centralita.runtime_voicemail import VoicemailService

log = logging.getLogger("centralita.runtime")


@dataclass(frozen=True, slots=True)
class FlowStart:
    """Why the core handed a call to the dial plan."""

    kind: str  # "internal" (a phone dialled something) | "number" (a carrier, a DID) | "feature"
    dialled: str
    number: VirtualNumberConfig | None = None  # kind "number"
    feature: Any = None  # kind "feature": a routing.feature_codes.FeatureCode


@dataclass
class Runtime:
    """What every routed call of the server shares."""

    directory: Directory
    is_busy: Callable[[int, str], bool]  # (tenant id, extension): in a call
    occupy: Callable[[int, str, int], None]  # (tenant id, extension, +1 / -1)
    media_ip: Callable[[Address], str]
    data_dir: Path
    voicemail: VoicemailService | None = None
    mwi: Callable[[int, str], None] = lambda tenant_id, box: None
    pretend: datetime | None = None  # serve --pretend-time: the wall clock starts there
    _started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        real = datetime.now(UTC)
        if self.pretend is None:
            return real
        return self.pretend + (real - self._started)


class TenantEnv:
    """RoutingEnv for one call of one tenant."""

    def __init__(self, runtime: Runtime, tenant: TenantEntry, plan: DialPlan | None) -> None:
        self.runtime = runtime
        self.tenant = tenant
        self.plan = plan if plan is not None else DialPlan()
        self.tenant_id = tenant.id
        self.tenant_name = tenant.name
        self.domain = tenant.domain

    def now(self) -> datetime:
        return self.runtime.now()

    def extension_exists(self, number: str) -> bool:
        return self.runtime.directory.extension(self.tenant_id, number) is not None

    def extension_name(self, number: str) -> str:
        entry = self.runtime.directory.extension(self.tenant_id, number)
        return "" if entry is None or entry.name == entry.number else entry.name

    def is_registered(self, number: str) -> bool:
        now = datetime.now(UTC).timestamp()
        return bool(self.runtime.directory.get_bindings(self.tenant_id, number, now))

    def is_busy(self, number: str) -> bool:
        return self.runtime.is_busy(self.tenant_id, number)

    def dnd(self, number: str) -> bool:
        entry = self.runtime.directory.extension(self.tenant_id, number)
        return bool(entry is not None and entry.dnd)

    async def set_dnd(self, number: str, on: bool) -> None:
        extensions = self.runtime.directory.store.extensions
        await asyncio.to_thread(extensions.set_dnd, self.tenant_id, number, on)

    def forward_override(self, number: str) -> str | None:
        entry = self.runtime.directory.extension(self.tenant_id, number)
        return None if entry is None else entry.forward_to

    async def set_forward_override(self, number: str, target: str | None) -> None:
        extensions = self.runtime.directory.store.extensions
        await asyncio.to_thread(extensions.set_forward, self.tenant_id, number, target)

    def company_number(self) -> str | None:
        return self.plan.numbers[0].number if self.plan.numbers else None

    def media_path(self, relative: str) -> Path:
        base = (tenant_dir(self.runtime.data_dir, self.tenant_name) / "media").resolve()
        path = (base / relative).resolve()
        if not path.is_relative_to(base):
            raise ValueError(f"{relative!r} is outside the tenant's media folder")
        return path

    def recording_path(self, kind: str, name: str) -> Path:
        """``name`` as given when it is a file name (``box-1a2b.wav``), else stamped with
        the time (``team-20261225-220000.wav``)."""
        folder = self.runtime.data_dir / "recordings" / self.tenant_name / kind
        folder.mkdir(parents=True, exist_ok=True)
        if name.endswith(".wav"):
            return folder / Path(name).name
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return folder / f"{Path(name).name}-{stamp}.wav"

    # ---- voicemail --------------------------------------------------------------------------

    def _voicemail(self) -> VoicemailService:
        if self.runtime.voicemail is None:
            raise RuntimeError("voicemail is not available on this server")
        return self.runtime.voicemail

    async def voicemail_filed(
        self, box: str, recording: Path, *, caller: str, caller_name: str, duration: float
    ) -> VoicemailMessage:
        return await self._voicemail().filed(
            self.tenant,
            box,
            recording,
            caller=caller,
            caller_name=caller_name,
            duration=duration,
        )

    async def voicemail_messages(self, box: str) -> list[VoicemailMessage]:
        return await self._voicemail().messages(self.tenant, box)

    async def voicemail_mark_heard(self, message_id: str) -> None:
        await self._voicemail().mark_heard(self.tenant, message_id)

    async def voicemail_delete(self, message_id: str) -> None:
        await self._voicemail().delete(self.tenant, message_id)

    async def email_voicemail(self, message: VoicemailMessage, recipients: list[str]) -> None:
        zone = ZoneInfo(self.plan.timezone)
        await self._voicemail().email(message, recipients, timezone=zone)


class Planner:
    """Which phones a dial rings (DialPlanner)."""

    def __init__(self, runtime: Runtime, env: TenantEnv) -> None:
        self.runtime = runtime
        self.env = env

    async def legs(
        self, caller: Party, target: DialTarget, caller_id: str | None
    ) -> list[PlannedLeg] | DialStatus:
        if target.external:
            return await self._external(target.number, caller_id)
        return self._extension(caller, target.number)

    def _extension(self, caller: Party, number: str) -> list[PlannedLeg] | DialStatus:
        directory = self.runtime.directory
        entry = directory.extension(self.env.tenant_id, number)
        if entry is None:
            return DialStatus.FAILED
        if not entry.call_waiting and self.runtime.is_busy(self.env.tenant_id, number):
            return DialStatus.BUSY
        now = datetime.now(UTC).timestamp()
        bindings = directory.get_bindings(self.env.tenant_id, number, now)
        if not bindings:
            return DialStatus.UNREACHABLE
        legs = []
        for binding in bindings:
            invite = OutboundTarget(
                tenant_id=self.env.tenant_id,
                tenant_name=self.env.tenant_name,
                request_uri=binding.contact,
                dest=binding.received,
                from_uri=f"sip:{caller.number}@{self.env.domain}",
                from_name=caller.name or None,
                to_uri=f"sip:{number}@{self.env.domain}",
                body=b"",
            )
            legs.append(PlannedLeg(invite, srtp=entry.srtp == "required", extension=number))
        return legs

    async def _external(self, number: str, caller_id: str | None) -> list[PlannedLeg] | DialStatus:
        from centralita.carriers.outbound import route_external

        try:
            route = route_external(self.env.plan, number, caller_id or self.env.company_number())
        except NotFound as error:
            log.warning("no carrier", extra={"fields": {"number": number, "error": str(error)}})
            return DialStatus.FAILED
        host = route.dest_host
        with contextlib.suppress(OSError):
            infos = await asyncio.get_running_loop().getaddrinfo(route.dest_host, route.dest_port)
            host = str(infos[0][4][0])
        identity = f"<sip:{route.from_user}@{self.env.domain}>"
        invite = OutboundTarget(
            tenant_id=self.env.tenant_id,
            tenant_name=self.env.tenant_name,
            request_uri=route.request_uri,
            dest=Address(route.transport.lower(), host, route.dest_port),
            from_uri=f"sip:{route.from_user}@{self.env.domain}",
            from_name=None,
            to_uri=route.to_uri,
            body=b"",
            credentials=route.credentials,
            # RFC 3325 §9.1: the identity the network asserts: the company's number.
            headers=(("P-Asserted-Identity", identity),),
        )
        return [PlannedLeg(invite)]

    def occupy(self, extension: str) -> Callable[[], None]:
        tenant_id = self.env.tenant_id
        self.runtime.occupy(tenant_id, extension, +1)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.runtime.occupy(tenant_id, extension, -1)

        return release

    def media_ip(self, dest: Address) -> str:
        return self.runtime.media_ip(dest)


async def run_flow(live: LiveCall, env: TenantEnv, start: FlowStart) -> None:
    """Route one call to its end; the caller hanging up is a normal end."""
    from centralita.routing import feature_codes, flow

    caller = live.call.target.caller.number
    release = None
    if live.call.target.caller_is_extension:
        release = Planner(env.runtime, env).occupy(caller)
    try:
        if start.kind == "number" and start.number is not None:
            await flow.route_number(live, env, start.number)
        elif start.kind == "feature":
            await feature_codes.run(live, env, start.feature)
        else:
            await flow.route_internal(live, env, start.dialled)
    except flow.NotFoundError as error:
        live.note(node="not_found", dialled=start.dialled, detail=str(error))
        await live.reject(404, "Not Found")
    except CallerHungUp:
        pass
    except Exception:
        log.exception("routing failed", extra={"call_id": live.call.call_id})
        with contextlib.suppress(Exception):
            await live.reject(500)
    finally:
        if release is not None:
            release()
        if not live.has_ended:
            await live.hangup()
        apps = live.apps
        live.drive(lambda now: apps.flow_finished(live.call))


def pretend_time(text: str | None) -> datetime | None:
    """``serve --pretend-time "2026-12-25 22:00"`` (UTC unless an offset is given)."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def feature_codes_of(plan: DialPlan | None) -> FeatureCodes:
    return plan.feature_codes if plan is not None else FeatureCodes()


__all__ = [
    "FlowStart",
    "Planner",
    "Runtime",
    "TenantEnv",
    "feature_codes_of",
    "pretend_time",
    "run_flow",
]
