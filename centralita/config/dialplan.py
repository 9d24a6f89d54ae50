"""A tenant's dial plan: the document the store keeps per tenant and the routing engine reads.

In the tenants YAML the dial plan is written as keys of the tenant (``timezone``,
``country``, ``carriers``, ``numbers``, ``schedules``, ``ivrs``, ``ring_groups``,
``voicemail_boxes``, ``conferences``, ``feature_codes``) and of each extension (``email``,
``voicemail``, ``forwarding``, ``simultaneous_ring``); :meth:`TenantConfig.dial_plan`
gathers them into one :class:`DialPlan`. Every extension of the tenant appears in it (with
its routing settings, possibly none), so that a stored plan can check its own references.
Passwords and the other account fields stay in the extensions table.

Default feature codes: DND on ``*78`` / off ``*79``, unconditional forward on ``*72``
(followed by the destination) / off ``*73``, voicemail ``*97``, record an IVR greeting by
phone ``*96`` (followed by the IVR's short number).

The routing engine reads it through the store (``store.dialplans.get(tenant_id)``) and asks:
:meth:`DialPlan.virtual_number` (a DID from a carrier), :meth:`DialPlan.internal` (a short
number dialled by a phone), :meth:`DialPlan.extension` and the ``ring_group`` / ``ivr`` /
``schedule`` / ``voicemail_box`` / ``conference`` look-ups that resolve a destination's
:attr:`~DestinationModel.target`, and :meth:`DialPlan.carrier_for_source`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import Field, PrivateAttr, model_validator

from centralita.config.dialplan_checks import check_dial_plan
from centralita.config.dialplan_destinations import (
    DESTINATIONS,
    HANGUP,
    Destination,
    DestinationModel,
    ToConference,
    ToExtension,
    ToHangup,
    ToIvr,
    ToMessage,
    ToNumber,
    ToRingGroup,
    ToSchedule,
    ToVoicemail,
)
from centralita.config.dialplan_nodes import (
    CarrierConfig,
    CarrierRegistration,
    ConferenceConfig,
    ExtensionVoicemail,
    FeatureCodes,
    Forwarding,
    ForwardOnNoAnswer,
    ForwardTo,
    Greeting,
    HolidayCalendar,
    IvrConfig,
    Member,
    RingGroupConfig,
    ScheduleConfig,
    VirtualNumberConfig,
    VoicemailBoxConfig,
    is_external,
)
from centralita.config.dialplan_values import Country, Email, Timezone, check_e164
from centralita.config.fields import ConfigModel, ExtensionNumber, check_unique

__all__ = [
    "DESTINATIONS",
    "DIAL_PLAN_SECTIONS",
    "HANGUP",
    "CarrierConfig",
    "CarrierRegistration",
    "ConferenceConfig",
    "Destination",
    "DestinationModel",
    "DialPlan",
    "DialPlanSections",
    "ExtensionRouting",
    "ExtensionVoicemail",
    "FeatureCodes",
    "ForwardOnNoAnswer",
    "ForwardTo",
    "Forwarding",
    "Greeting",
    "HolidayCalendar",
    "IvrConfig",
    "RingGroupConfig",
    "ScheduleConfig",
    "ToConference",
    "ToExtension",
    "ToHangup",
    "ToIvr",
    "ToMessage",
    "ToNumber",
    "ToRingGroup",
    "ToSchedule",
    "ToVoicemail",
    "VirtualNumberConfig",
    "VoicemailBoxConfig",
    "check_unique_extensions",
    "is_external",
]

T = TypeVar("T")

# The tenant-level lists of the dial plan, in the order of the YAML and of change reports.
DIAL_PLAN_SECTIONS: tuple[str, ...] = (
    "carriers",
    "numbers",
    "schedules",
    "ivrs",
    "ring_groups",
    "voicemail_boxes",
    "conferences",
    "feature_codes",
)


class ExtensionRouting(ConfigModel):
    """What the dial plan knows of an extension."""

    number: ExtensionNumber
    email: Email | None = None
    voicemail: ExtensionVoicemail | None = None  # None: the user has no box
    forwarding: Forwarding | None = None
    simultaneous_ring: list[Member] = Field(default_factory=list)  # ring with the phones

    @property
    def has_routing(self) -> bool:
        return bool(self.email or self.voicemail or self.forwarding or self.simultaneous_ring)


def check_unique_extensions(extensions: Sequence[ExtensionRouting]) -> None:
    check_unique(
        [ext.number for ext in extensions],
        lambda i: ("extensions", i, "number"),
        "extension number",
    )


class DialPlanSections(ConfigModel):
    """The sections a tenant's YAML and its stored dial plan share (extensions aside: the
    YAML's carry accounts, the plan's only routing)."""

    timezone: Timezone = "UTC"  # schedules are read on this wall clock
    country: Country | None = None  # public holidays and the national number format
    carriers: list[CarrierConfig] = Field(default_factory=list)
    numbers: list[VirtualNumberConfig] = Field(default_factory=list)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    ivrs: list[IvrConfig] = Field(default_factory=list)
    ring_groups: list[RingGroupConfig] = Field(default_factory=list)
    voicemail_boxes: list[VoicemailBoxConfig] = Field(default_factory=list)
    conferences: list[ConferenceConfig] = Field(default_factory=list)
    feature_codes: FeatureCodes = Field(default_factory=FeatureCodes)


class DialPlan(DialPlanSections):
    """One tenant's dial plan, checked as a whole (every reference resolves)."""

    extensions: list[ExtensionRouting] = Field(default_factory=list)

    _by_name: dict[tuple[str, str], Any] = PrivateAttr(default_factory=dict)
    _internal: dict[str, DestinationModel] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> DialPlan:
        check_unique_extensions(self.extensions)
        check_dial_plan(self, "DialPlan")
        return self

    def model_post_init(self, context: Any, /) -> None:
        for kind, items in self._collections():
            self._by_name.update(((kind, item.name), item) for item in items)
        self._by_name.update((("extension", e.number), e) for e in self.extensions)
        self._by_name.update((("number", n.number), n) for n in self.numbers)
        internal: list[DestinationModel] = [
            ToExtension(extension=e.number) for e in self.extensions
        ]
        internal += [ToIvr(ivr=m.name) for m in self.ivrs if m.number]
        internal += [ToRingGroup(ring_group=g.name) for g in self.ring_groups if g.number]
        internal += [ToConference(conference=c.name) for c in self.conferences if c.number]
        for destination in internal:
            self._internal[self._short_number(destination)] = destination

    def _collections(self) -> list[tuple[str, Sequence[Any]]]:
        return [
            ("ring_group", self.ring_groups),
            ("ivr", self.ivrs),
            ("schedule", self.schedules),
            ("voicemail", self.voicemail_boxes),
            ("conference", self.conferences),
            ("carrier", self.carriers),
        ]

    def _short_number(self, destination: DestinationModel) -> str:
        if isinstance(destination, ToExtension):
            return destination.extension
        number = self._by_name[(destination.key, destination.target)].number
        assert isinstance(number, str)
        return number

    # -------------------------------------------------------------- look-ups

    @property
    def is_empty(self) -> bool:
        """Nothing to route beyond plain extension dialling: no plan needs storing."""
        return self == DialPlan(
            extensions=[ExtensionRouting(number=e.number) for e in self.extensions]
        )

    def extension(self, number: str) -> ExtensionRouting | None:
        return self._get("extension", number, ExtensionRouting)

    def ring_group(self, name: str) -> RingGroupConfig | None:
        return self._get("ring_group", name, RingGroupConfig)

    def ivr(self, name: str) -> IvrConfig | None:
        return self._get("ivr", name, IvrConfig)

    def schedule(self, name: str) -> ScheduleConfig | None:
        return self._get("schedule", name, ScheduleConfig)

    def voicemail_box(self, name: str) -> VoicemailBoxConfig | None:
        """A shared box by name (a user's box is :attr:`ExtensionRouting.voicemail`)."""
        return self._get("voicemail", name, VoicemailBoxConfig)

    def conference(self, name: str) -> ConferenceConfig | None:
        return self._get("conference", name, ConferenceConfig)

    def carrier(self, name: str) -> CarrierConfig | None:
        return self._get("carrier", name, CarrierConfig)

    def virtual_number(self, number: str) -> VirtualNumberConfig | None:
        """The tenant's DID ``number`` (any spacing; E.164 with '+')."""
        try:
            canonical = check_e164(number)
        except ValueError:
            return None
        return self._get("number", canonical, VirtualNumberConfig)

    def internal(self, number: str) -> DestinationModel | None:
        """What a short number dialled inside the tenant reaches: an extension, an IVR, a
        ring group or a conference room."""
        return self._internal.get(number)

    def carrier_for_source(self, host: str) -> CarrierConfig | None:
        """The carrier whose ``source`` networks contain the IP address ``host``."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        for carrier in self.carriers:
            if any(address in ipaddress.ip_network(net) for net in carrier.source or ()):
                return carrier
        return None

    def _get(self, kind: str, name: str, cls: type[T]) -> T | None:
        found = self._by_name.get((kind, name))
        return found if isinstance(found, cls) else None
