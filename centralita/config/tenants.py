"""The tenant configuration model: one schema for YAML files, the REST API and web forms.

Every model refuses unknown keys (a typo must not pass silently) and is immutable. A later
feature adds its own keys as new optional fields of :class:`TenantConfig` (or of its own
model referenced from there), each with a default, so existing files stay valid.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# RFC 1123 §2.1 host name labels; lower-case only after normalisation.
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_NUMBER = re.compile(r"^[0-9]{2,6}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys refused, instances immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _int_as_text(value: Any) -> Any:
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
    if value is not None and _CONTROL.search(value):
        raise PydanticCustomError("display_name", "must not contain control characters")
    return value or None


TenantName = Annotated[str, AfterValidator(check_slug)]
Hostname = Annotated[str, AfterValidator(check_hostname)]
ExtensionNumber = Annotated[str, BeforeValidator(_int_as_text), AfterValidator(check_number)]
DisplayName = Annotated[str | None, Field(max_length=64), AfterValidator(check_display_name)]
Password = Annotated[str, Field(min_length=8, max_length=128), BeforeValidator(_int_as_text)]


class ExtensionConfig(ConfigModel):
    number: ExtensionNumber
    name: DisplayName = None
    password: Password
    call_waiting: bool = False
    # SDES-SRTP (RFC 4568) towards this extension's phones: "off" plain RTP (a phone's own
    # SRTP offer is still answered), "optional" RTP/AVP with a=crypto (best effort),
    # "required" RTP/SAVP only, plain offers refused with 488.
    srtp: Literal["off", "optional", "required"] = "off"
    # Record every bridged call this extension makes or receives (stereo WAV, caller left).
    record_calls: bool = False

    @field_validator("password")
    @classmethod
    def _password_not_number(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("number"):
            raise PydanticCustomError("weak_password", "must not be the extension number")
        if _CONTROL.search(value):
            raise PydanticCustomError("password", "must not contain control characters")
        return value


class TenantConfig(ConfigModel):
    name: TenantName
    domain: Hostname  # SIP domain and digest realm of the tenant
    default: bool = False  # answers requests addressed to the server's IP
    extensions: list[ExtensionConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_numbers(self) -> TenantConfig:
        check_unique(
            [ext.number for ext in self.extensions],
            lambda i: ("extensions", i, "number"),
            "extension number",
        )
        return self


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


def check_tenants(tenants: list[TenantConfig]) -> None:
    """Rules across the tenants of one file: unique names and domains, one default."""
    check_unique([t.name for t in tenants], lambda i: ("tenants", i, "name"), "tenant name")
    check_unique([t.domain for t in tenants], lambda i: ("tenants", i, "domain"), "domain")
    defaults = [i for i, t in enumerate(tenants) if t.default]
    if len(defaults) > 1:
        raise PydanticCustomError(
            "duplicate",
            "only one tenant may be the default (also at index {first})",
            {"first": defaults[0], "at": ["tenants", defaults[1], "default"]},
        )


class TenantsConfig(ConfigModel):
    """A tenants file (``centralita apply FILE.yaml``)."""

    tenants: list[TenantConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> TenantsConfig:
        check_tenants(self.tenants)
        return self
