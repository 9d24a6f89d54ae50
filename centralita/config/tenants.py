"""The tenant configuration model: one schema for YAML files, the REST API and web forms.

Every model refuses unknown keys (a typo must not pass silently) and is immutable. A later
feature adds its own keys as new optional fields of :class:`TenantConfig` (or of its own
model referenced from there), each with a default, so existing files stay valid.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from centralita.config.dialplan import (
    DIAL_PLAN_SECTIONS,
    DialPlan,
    DialPlanSections,
    ExtensionRouting,
    check_unique_extensions,
)
from centralita.config.dialplan_checks import check_dial_plan
from centralita.config.fields import (
    CONTROL_CHARACTERS,
    ConfigModel,
    DisplayName,
    ExtensionNumber,
    Hostname,
    Password,
    TenantName,
    check_display_name,
    check_hostname,
    check_number,
    check_slug,
    check_unique,
    int_as_text,
)

__all__ = [
    "ConfigModel",
    "DisplayName",
    "ExtensionConfig",
    "ExtensionNumber",
    "Hostname",
    "Password",
    "TenantConfig",
    "TenantName",
    "TenantsConfig",
    "check_display_name",
    "check_hostname",
    "check_number",
    "check_slug",
    "check_tenants",
    "check_unique",
    "int_as_text",
]


class ExtensionConfig(ExtensionRouting):
    """An extension: its account (number, password, ...) and, inherited from
    :class:`ExtensionRouting`, its routing (email, voicemail, forwarding, simultaneous_ring)."""

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
        if CONTROL_CHARACTERS.search(value):
            raise PydanticCustomError("password", "must not contain control characters")
        return value


class TenantConfig(DialPlanSections):
    """A tenant: its accounts here, its dial plan in the shared sections (stored as one
    document per tenant, centralita.config.dialplan)."""

    name: TenantName
    domain: Hostname  # SIP domain and digest realm of the tenant
    default: bool = False  # answers requests addressed to the server's IP
    extensions: list[ExtensionConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> TenantConfig:
        check_unique_extensions(self.extensions)
        check_dial_plan(self, "TenantConfig")
        return self

    def dial_plan(self) -> DialPlan:
        """The tenant's dial plan, as the store keeps it and the routing engine reads it."""
        routing = set(ExtensionRouting.model_fields)
        return DialPlan(
            timezone=self.timezone,
            country=self.country,
            extensions=[
                ExtensionRouting.model_validate(ext.model_dump(include=routing))
                for ext in self.extensions
            ],
            **{section: getattr(self, section) for section in DIAL_PLAN_SECTIONS},
        )


def check_tenants(tenants: list[TenantConfig]) -> None:
    """Rules across the tenants of one file: unique names and domains, one default."""
    check_unique([t.name for t in tenants], lambda i: ("tenants", i, "name"), "tenant name")
    check_unique([t.domain for t in tenants], lambda i: ("tenants", i, "domain"), "domain")
    numbers = [(i, j, did.number) for i, t in enumerate(tenants) for j, did in enumerate(t.numbers)]
    check_unique(
        [number for _, _, number in numbers],
        lambda k: ("tenants", numbers[k][0], "numbers", numbers[k][1], "number"),
        "virtual number",
    )
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
