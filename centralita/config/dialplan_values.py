"""Scalar values of the dial plan: E.164 numbers, time zones, countries, PINs, DTMF keys,
feature codes, prompt names and the weekly hour ranges of schedules.

Each is an ``Annotated`` type that validates and normalises on the way in and serialises
back to the canonical text on the way out, so YAML -> model -> JSON -> model is lossless.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from functools import cache
from typing import Annotated, Any

import holidays
import phonenumbers
from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from centralita.config.fields import int_as_text

_DIGITS = re.compile(r"^[0-9]{1,16}$")
_PROMPT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DTMF_KEYS = frozenset("0123456789*#")
_FEATURE_CODE = re.compile(r"^[*#][0-9]{1,4}$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = r"(?:[01]?[0-9]|2[0-4]):[0-9]{2}"
_SPAN = rf"{_CLOCK}\s*-\s*{_CLOCK}"
_HOURS = re.compile(rf"^([a-z][a-z,\- ]*?)\s*((?:{_SPAN})(?:\s*,\s*{_SPAN})*)$")


def check_e164(value: str) -> str:
    """A public number in E.164 (ITU-T E.164 §6): ``+``, country code, national number.
    Spaces, dots, dashes and parentheses are dropped; the number must be valid for its
    country according to libphonenumber's metadata."""
    text = re.sub(r"[\s.()\-]", "", value)
    if not text.startswith("+"):
        raise PydanticCustomError("e164", "must be an international number such as +34910000000")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise PydanticCustomError(
            "e164", "not a phone number: {reason}", {"reason": str(exc)}
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise PydanticCustomError("e164", "not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "unknown time zone '{value}' (e.g. Europe/Madrid)", {"value": value}
        ) from None
    return value


def check_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code libphonenumber knows (for the national number format)."""
    code = value.upper()
    if phonenumbers.country_code_for_region(code) == 0:
        raise PydanticCustomError(
            "country",
            "unknown country code '{value}' (ISO 3166-1 alpha-2, e.g. ES)",
            {"value": value},
        )
    return code


@cache
def holiday_regions() -> dict[str, tuple[str, ...]]:
    """Countries the ``holidays`` package has calendars for, with their subdivisions."""
    return {c: tuple(s) for c, s in holidays.list_supported_countries().items()}


def check_holiday_country(value: str) -> str:
    code = value.upper()
    if code not in holiday_regions():
        raise PydanticCustomError(
            "country", "no public holiday calendar for country '{value}'", {"value": value}
        )
    return code


def check_digits(value: str) -> str:
    if not _DIGITS.match(value):
        raise PydanticCustomError("digits", "must be 1 to 16 digits")
    return value


def check_pin(value: str) -> str:
    if not re.fullmatch(r"[0-9]{4,12}", value):
        raise PydanticCustomError("pin", "must be 4 to 12 digits")
    return value


def check_dtmf_key(value: str) -> str:
    if value not in _DTMF_KEYS:
        raise PydanticCustomError("dtmf_key", "must be one key: 0-9, * or #")
    return value


def check_feature_code(value: str) -> str:
    if not _FEATURE_CODE.match(value):
        raise PydanticCustomError("feature_code", "must be * or # followed by 1 to 4 digits")
    return value


def check_prompt(value: str) -> str:
    if not _PROMPT.match(value):
        raise PydanticCustomError(
            "prompt", "must be a prompt name: lower-case letters, digits, '_' and '-'"
        )
    return value


def check_email(value: str) -> str:
    if not _EMAIL.match(value) or len(value) > 254:
        raise PydanticCustomError("email", "must be an e-mail address such as alice@acme.test")
    return value


def check_source(value: str) -> str:
    """A carrier's source: an IP address or network, in canonical form (a single address
    is written without its full-length prefix)."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PydanticCustomError(
            "source", "must be an IP address or network such as 192.0.2.0/24"
        ) from None
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


E164 = Annotated[str, BeforeValidator(int_as_text), AfterValidator(check_e164)]
Timezone = Annotated[str, AfterValidator(check_timezone)]
Country = Annotated[str, AfterValidator(check_country)]
HolidayCountry = Annotated[str, AfterValidator(check_holiday_country)]
Digits = Annotated[str, BeforeValidator(int_as_text), AfterValidator(check_digits)]
Pin = Annotated[str, BeforeValidator(int_as_text), AfterValidator(check_pin)]
DtmfKey = Annotated[str, BeforeValidator(int_as_text), AfterValidator(check_dtmf_key)]
FeatureCode = Annotated[str, AfterValidator(check_feature_code)]
PromptName = Annotated[str, AfterValidator(check_prompt)]
Email = Annotated[str, AfterValidator(check_email)]
Source = Annotated[str, AfterValidator(check_source)]
Sources = Annotated[list[Source], BeforeValidator(_one_or_many)]


def check_hours(value: str) -> str:
    """A weekly range, ``DAYS HH:MM-HH:MM[,HH:MM-HH:MM...]``: ``mon-fri 09:00-18:00``,
    ``sat 10:00-14:00``, ``mon,wed 08:00-12:00,16:00-19:00``, ``fri-mon 22:00-06:00``
    (day ranges wrap round the week). An end at or before the start runs overnight into the
    next day; ``24:00`` (or ``00:00`` as an end) is midnight. Returned in canonical form
    (lower case, one space), the text centralita.routing.schedule evaluates."""
    text = " ".join(value.lower().split())
    match = _HOURS.match(text)
    if match is None:
        raise PydanticCustomError(
            "hours",
            "'{value}' is not like 'mon-fri 09:00-18:00' or 'sat 10:00-14:00'",
            {"value": value},
        )
    days = match[1].replace(" ", "")
    for part in days.split(","):
        for day in part.split("-", 1):
            if day not in _DAYS:
                raise PydanticCustomError(
                    "hours",
                    "unknown day '{day}' (use mon, tue, wed, thu, fri, sat, sun)",
                    {"day": day},
                )
    spans = [_span(span.strip(), value) for span in match[2].split(",")]
    return f"{days} {','.join(spans)}"


def _span(text: str, value: str) -> str:
    first, _, last = text.partition("-")
    start, end = _minute(first.strip(), value), _minute(last.strip(), value)
    if start == end or start == 24 * 60:
        raise PydanticCustomError("hours", "'{value}' has an empty range", {"value": value})
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def _minute(clock: str, value: str) -> int:
    hour, _, minute = clock.partition(":")
    if int(minute) > 59 or int(hour) > 24 or (int(hour) == 24 and int(minute)):
        raise PydanticCustomError("hours", "'{value}' has an impossible time", {"value": value})
    return int(hour) * 60 + int(minute)


Hours = Annotated[str, AfterValidator(check_hours)]
