"""The parts of a tenant's dial plan: carriers, virtual numbers, schedules, IVR menus, ring
groups, voicemail boxes, conference rooms, feature codes, and each extension's own routing
(e-mail, voicemail, forwarding, simultaneous ring).

These models check what one item can check alone; references between items (a destination
naming an IVR, a number used twice) are checked by :mod:`centralita.config.dialplan_checks`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from centralita.config.dialplan_destinations import HANGUP, Destination
from centralita.config.dialplan_values import (
    E164,
    DtmfKey,
    Email,
    FeatureCode,
    HolidayCountry,
    Hours,
    Pin,
    PromptName,
    Sources,
    check_e164,
)
from centralita.config.fields import ConfigModel, ExtensionNumber, Hostname, TenantName, int_as_text
from centralita.config.fields import check_number as check_extension_number

# ---------------------------------------------------------------- shared by several parts


class Greeting(ConfigModel):
    """What a caller hears first: a system or uploaded prompt by name, or a WAV file
    (a path relative to the tenant's media folder)."""

    prompt: PromptName | None = None
    file: Annotated[str, Field(min_length=1, max_length=1024)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Greeting:
        if (self.prompt is None) == (self.file is None):
            raise PydanticCustomError("greeting", "give either prompt or file")
        if self.file is not None and (self.file.startswith("/") or ".." in self.file.split("/")):
            raise PydanticCustomError("greeting", "file must be a relative path inside the media")
        return self


def _member(value: Any) -> Any:
    """A ring target: an extension number, or an external number in E.164."""
    value = int_as_text(value)
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("+"):
        return check_e164(value)
    return check_extension_number(value)


Member = Annotated[str, BeforeValidator(_member)]


def is_external(member: str) -> bool:
    return member.startswith("+")


# ---------------------------------------------------------------- extensions' own routing


class ExtensionVoicemail(ConfigModel):
    """A user's own box: ``{voicemail: "101"}`` leads here."""

    pin: Pin | None = None  # to listen to messages by phone
    email: Email | None = None  # where messages are sent; default: the extension's e-mail
    greeting: Greeting | None = None  # default: the system greeting saying the number
    max_message_seconds: Annotated[int, Field(ge=5, le=3600)] = 180


class ForwardTo(ConfigModel):
    to: Destination


class ForwardOnNoAnswer(ConfigModel):
    after: Annotated[int, Field(ge=1, le=600)] = 20  # seconds of ringing
    to: Destination


class Forwarding(ConfigModel):
    """Where a user's calls go instead. ``unconditional`` wins over everything (the phones do
    not ring); ``busy`` also takes do-not-disturb calls; ``unreachable`` applies when no phone
    is registered or none responds."""

    unconditional: Destination | None = None
    busy: Destination | None = None
    no_answer: ForwardOnNoAnswer | None = None
    unreachable: ForwardTo | None = None
    # Whoever answers an outside phone of this user (simultaneous ring) must press 1 before
    # the call is put through, so that a mobile's own voicemail cannot take the call.
    confirm_external: bool = False


# ---------------------------------------------------------------- carriers and numbers


class CarrierRegistration(ConfigModel):
    """Register to the carrier as a client (RFC 3261 §10) with these credentials."""

    server: Hostname | Annotated[str, Field(pattern=r"^[0-9.:a-fA-F\[\]]+$")]
    port: Annotated[int, Field(ge=1, le=65535)] = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"
    username: Annotated[str, Field(min_length=1, max_length=128)]
    password: SecretStr
    realm: str | None = None
    expires: Annotated[int, Field(ge=60, le=86400)] = 3600

    @field_serializer("password", when_used="json")
    def _reveal(self, password: SecretStr) -> str:
        # The stored document must keep it: Centralita registers with it.
        return password.get_secret_value()


def _host_port(value: Any) -> Any:
    """``"host"``, ``"host:port"``, ``"[v6]:port"`` as a mapping; mappings pass as they are."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""  # a bare IPv6 address or a host name
    if port and not port.isdigit():
        raise PydanticCustomError("proxy", "must be host, host:port or [IPv6]:port")
    return {"host": host, "port": int(port)} if port else {"host": host}


def _ip_literal(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise PydanticCustomError("host", "must be a host name or an IP address") from None


IpLiteral = Annotated[str, AfterValidator(_ip_literal)]


class CarrierProxy(ConfigModel):
    """Where calls to external numbers are sent through a carrier (its SIP proxy)."""

    host: Hostname | IpLiteral
    port: Annotated[int, Field(ge=1, le=65535)] = 5060
    transport: Literal["udp", "tcp"] = "udp"


class CarrierConfig(ConfigModel):
    """A SIP trunk, recognised by the source address of its requests or by the registration
    Centralita keeps with it.

    Calls to external numbers leave through the first carrier of the tenant that can place
    them (``outbound``, and an address to send them to: ``proxy``; else the registration's
    server; else the ``source`` when it is exactly one address, on port 5060). The dialled
    number is written in the Request-URI as ``number_format`` says (``e164``: +34910000000,
    ``e164_without_plus``: 34910000000, ``national``: 910000000 in the tenant's country and
    the international prefix before foreign numbers, 0044...), after ``prefix`` if any. The
    caller sees ``caller_id`` when set, else the company's number.
    """

    # "register" is also a class attribute of every model (ABCMeta.register): hence the alias.
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )

    name: TenantName
    source: Sources | None = None
    registration: CarrierRegistration | None = Field(default=None, alias="register")
    proxy: Annotated[CarrierProxy, BeforeValidator(_host_port)] | None = None
    outbound: bool = True  # False: the carrier only delivers calls to the tenant
    caller_id: E164 | None = None
    number_format: Literal["e164", "national", "e164_without_plus"] = "e164"
    prefix: Annotated[str, Field(pattern=r"^[0-9*#]{1,16}$")] | None = None

    @model_validator(mode="after")
    def _identified(self) -> CarrierConfig:
        if not self.source and self.registration is None:
            raise PydanticCustomError("carrier", "give source (addresses) or register")
        return self

    @property
    def single_source(self) -> str | None:
        """The one address of ``source``, when it names exactly one host."""
        sources = self.source or []
        if len(sources) != 1 or "/" in sources[0]:
            return None
        return sources[0]


class VirtualNumberConfig(ConfigModel):
    """A public number (DID) of the tenant and where its calls go."""

    number: E164
    destination: Destination
    welcome: Greeting | None = None  # played before the destination
    comment: str | None = None


# ---------------------------------------------------------------- schedules


class HolidayCalendar(ConfigModel):
    country: HolidayCountry | None = None  # default: the tenant's country
    subdivision: Annotated[str, Field(min_length=1, max_length=16)] | None = None


class ScheduleConfig(ConfigModel):
    """Business hours in the tenant's time zone; public holidays and ``closed_dates`` are
    closed all day, ``open_dates`` are worked in spite of them."""

    name: TenantName
    hours: list[Hours] = Field(default_factory=list)
    holidays: HolidayCalendar | None = None
    closed_dates: list[date] = Field(default_factory=list)
    open_dates: list[date] = Field(default_factory=list)
    open: Destination
    closed: Destination


# ---------------------------------------------------------------- IVR menus


class IvrConfig(ConfigModel):
    """A voice menu: greeting, then a key chooses; no key within ``timeout`` seconds or an
    invalid key replays it, ``loops`` times in all, then ``after_loops``. With
    ``direct_dial`` the caller may also dial an extension number. ``diversion`` sends every
    call elsewhere (a schedule destination makes the menu work by schedule)."""

    name: TenantName
    number: ExtensionNumber | None = None  # internal short number
    comment: str | None = None
    greeting: Greeting | None = None
    options: dict[DtmfKey, Destination] = Field(default_factory=dict)
    timeout: Annotated[float, Field(gt=0, le=60)] = 5
    loops: Annotated[int, Field(ge=1, le=20)] = 3
    invalid: Greeting | None = None  # played after an invalid key; default: a system prompt
    after_loops: Destination = HANGUP
    direct_dial: bool = False
    diversion: Destination | None = None


# ---------------------------------------------------------------- ring groups


ALWAYS_OPEN: Final = "always"


class RingGroupOpening(ConfigModel):
    """When a ring group takes calls: while ``schedule`` is open, or, without a schedule,
    never. A closed group rings nobody: its calls go to ``closed``, by default the
    schedule's own ``closed`` destination."""

    schedule: TenantName | None = None
    closed: Destination | None = None

    @model_validator(mode="after")
    def _closed_somewhere(self) -> RingGroupOpening:
        if self.schedule is None and self.closed is None:
            raise PydanticCustomError(
                "opening", "give schedule, closed or both (or write opening: always)"
            )
        return self


def _opening(value: Any) -> Any:
    """``always``, or a mapping validated here as :class:`RingGroupOpening`, so that its
    errors are located at ``opening.closed`` rather than under a union member's name."""
    if value == ALWAYS_OPEN or isinstance(value, RingGroupOpening):
        return value
    if isinstance(value, dict):
        return RingGroupOpening.model_validate(value)
    raise PydanticCustomError(
        "opening",
        "must be always, or a mapping: {schedule: office} and/or {closed: a destination}",
    )


Opening = Annotated[Literal["always"] | RingGroupOpening, BeforeValidator(_opening)]


class RingGroupConfig(ConfigModel):
    """Members ring ``simultaneous``-ly, one after another (``sequential``, ``member_timeout``
    seconds each) or only the idle ones (``first_free``); the whole round ``loops`` times,
    then ``no_answer``. ``opening`` says when the group takes calls (see
    :class:`RingGroupOpening`); by default always."""

    name: TenantName
    number: ExtensionNumber | None = None
    strategy: Literal["simultaneous", "sequential", "first_free"] = "simultaneous"
    member_timeout: Annotated[int, Field(ge=1, le=600)] = 20
    members: Annotated[list[Member], Field(min_length=1)]
    loops: Annotated[int, Field(ge=1, le=20)] = 1
    caller_hears: Literal["ringback", "music"] = "ringback"
    no_answer: Destination = HANGUP
    opening: Opening = ALWAYS_OPEN


# ---------------------------------------------------------------- voicemail and conferences


class VoicemailBoxConfig(ConfigModel):
    """A shared box (``{voicemail: general}``). Its name has a letter, so that it cannot be
    mistaken for a user's box, which is named by extension number."""

    name: Annotated[TenantName, Field(pattern=r"[a-z]")]
    email: Email | None = None
    pin: Pin | None = None
    greeting: Greeting | None = None
    max_message_seconds: Annotated[int, Field(ge=5, le=3600)] = 180


class ConferenceConfig(ConfigModel):
    name: TenantName
    number: ExtensionNumber | None = None
    pin: Pin | None = None
    moderator_pin: Pin | None = None
    max_members: Annotated[int, Field(ge=2, le=500)] | None = None
    join_tones: bool = True
    muted_until_moderator: bool = False
    record: bool = False

    @model_validator(mode="after")
    def _pins_differ(self) -> ConferenceConfig:
        if self.pin is not None and self.pin == self.moderator_pin:
            raise PydanticCustomError("pin", "pin and moderator_pin must differ")
        if self.muted_until_moderator and self.moderator_pin is None:
            raise PydanticCustomError(
                "moderator_pin",
                "muted_until_moderator needs a moderator_pin (nobody could unmute the room)",
            )
        return self


# ---------------------------------------------------------------- feature codes

# Built into every tenant by centralita.routing.services: the echo and keypad tests and the
# ad-hoc conference prefix. A configured code must not shadow them.
_BUILT_IN_CODES = re.compile(r"^(\*41|\*43|\*8[0-9]*)$")
_BUILT_IN_LITERALS = ("*41", "*43", "*8")  # what a code taking digits after it must not prefix


class FeatureCodes(ConfigModel):
    """Codes a user dials from their phone. ``forward_on`` is followed by the destination
    number (``*72102``, ``*72+34600111222``); ``record_greeting`` by an IVR's short number
    (``*96500``: record that menu's greeting by phone). No other code may start with one of
    these two, or the digits after them would be ambiguous."""

    dnd_on: FeatureCode = "*78"
    dnd_off: FeatureCode = "*79"
    forward_on: FeatureCode = "*72"
    forward_off: FeatureCode = "*73"
    voicemail: FeatureCode = "*97"
    record_greeting: FeatureCode = "*96"

    @property
    def prefixes(self) -> dict[str, str]:
        """The codes followed by an argument, by name."""
        return {"forward_on": self.forward_on, "record_greeting": self.record_greeting}

    @model_validator(mode="after")
    def _distinct(self) -> FeatureCodes:
        codes: dict[str, str] = self.model_dump()
        _check_distinct(codes)
        _check_prefixes(codes, self.prefixes)
        return self


def _check_distinct(codes: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for name, code in codes.items():
        if _BUILT_IN_CODES.match(code):
            raise PydanticCustomError(
                "feature_code",
                "{name}: {code} is a built-in service code",
                {"name": name, "code": code},
            )
        if code in seen:
            raise PydanticCustomError(
                "duplicate",
                "{name} and {other} are both {code}",
                {"name": name, "other": seen[code], "code": code},
            )
        seen[code] = name


def _check_prefixes(codes: dict[str, str], prefixes: dict[str, str]) -> None:
    """A code followed by digits must not be the start of another code, built-in or not."""
    for prefix_name, prefix in prefixes.items():
        if any(code.startswith(prefix) for code in _BUILT_IN_LITERALS):
            raise PydanticCustomError(
                "feature_code",
                "{name}: {code} followed by digits would take a built-in service code",
                {"name": prefix_name, "code": prefix},
            )
        for name, code in codes.items():
            if code != prefix and code.startswith(prefix):
                raise PydanticCustomError(
                    "feature_code",
                    "{name}: {code} starts with {prefix_name} ({prefix}), which takes digits "
                    "after it",
                    {"name": name, "code": code, "prefix_name": prefix_name, "prefix": prefix},
                )
