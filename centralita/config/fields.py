"""The building blocks of every configuration model: the strict, immutable base model and
the validated field types shared by tenants, the dial plan and the server settings."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

# RFC 1123 §2.1 host name labels; lower-case only after normalisation.
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_NUMBER = re.compile(r"^[0-9]{2,6}$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys refused, instances immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def int_as_text(value: Any) -> Any:
    # JSON clients may send 101 for "101"; an int has no leading zeros to lose.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise PydanticCustomError(
            "slug",
            "must be a slug: lower-case letters, digits and inner hyphens, at most 63 characters",
        )
    return value


def check_hostname(value: str) -> str:
    host = value.rstrip(".").lower()
    labels = host.split(".")
    valid = 0 < len(host) <= 253 and all(_LABEL.match(label) for label in labels)
    if not valid or labels[-1].isdigit():  # an all-numeric top label is an IP address
        raise PydanticCustomError("hostname", "must be a host name such as acme.example.com")
    return host


def check_number(value: str) -> str:
    if not _NUMBER.match(value):
        raise PydanticCustomError("extension_number", "must be 2 to 6 digits")
    return value


def check_display_name(value: str | None) -> str | None:
    if value is not None and CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError("display_name", "must not contain control characters")
    return value or None


TenantName = Annotated[str, AfterValidator(check_slug)]
Hostname = Annotated[str, AfterValidator(check_hostname)]
ExtensionNumber = Annotated[str, BeforeValidator(int_as_text), AfterValidator(check_number)]
DisplayName = Annotated[str | None, Field(max_length=64), AfterValidator(check_display_name)]
Password = Annotated[str, Field(min_length=8, max_length=128), BeforeValidator(int_as_text)]


def check_unique(values: list[str], where: Any, what: str) -> None:
    """Refuse a repeated value. The error's context ``at`` holds the location of the repeat,
    relative to the model being validated (pydantic gives model validators none)."""
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            raise PydanticCustomError(
                "duplicate",
                "duplicate {what} '{value}' (first at index {first})",
                {"what": what, "value": value, "first": seen[value], "at": list(where(index))},
            )
        seen[value] = index
