"""Destinations: where a call goes next. Each is a one-key mapping, and each key is a small
model of its own, joined in the discriminated union :data:`Destination`:

``{extension: "101"}``, ``{ring_group: sales}``, ``{ivr: main}``, ``{schedule: office}``,
``{voicemail: general}`` (a shared box) or ``{voicemail: "101"}`` (a user's box),
``{conference: team}``, ``{number: "+34600111222"}``, ``{message: closed-notice}`` (play the
prompt, then hang up), ``{hangup: true}``.

A new kind (queues) is one model here, one member of the union and one entry of
:data:`DESTINATIONS`; the reference check then needs to know the collection it names.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Tag

from centralita.config.dialplan_values import E164, PromptName
from centralita.config.fields import ConfigModel, ExtensionNumber, TenantName


class DestinationModel(ConfigModel):
    """Base of the destinations: ``key`` is the one key of the mapping."""

    key: ClassVar[str]

    @property
    def target(self) -> str:
        """What the destination names (an extension number, a group's name, ...)."""
        return str(getattr(self, self.key))

    def __str__(self) -> str:
        return f"{self.key}: {self.target}"


class ToExtension(DestinationModel):
    key: ClassVar[str] = "extension"
    extension: ExtensionNumber


class ToRingGroup(DestinationModel):
    key: ClassVar[str] = "ring_group"
    ring_group: TenantName


class ToIvr(DestinationModel):
    key: ClassVar[str] = "ivr"
    ivr: TenantName


class ToSchedule(DestinationModel):
    key: ClassVar[str] = "schedule"
    schedule: TenantName


class ToVoicemail(DestinationModel):
    """A shared box by name, or a user's own box by extension number (all digits)."""

    key: ClassVar[str] = "voicemail"
    voicemail: TenantName

    @property
    def personal(self) -> bool:
        return self.voicemail.isdigit()


class ToConference(DestinationModel):
    key: ClassVar[str] = "conference"
    conference: TenantName


class ToNumber(DestinationModel):
    """An external number, dialled out through a carrier."""

    key: ClassVar[str] = "number"
    number: E164


class ToMessage(DestinationModel):
    """Play the named prompt, then hang up."""

    key: ClassVar[str] = "message"
    message: PromptName


class ToHangup(DestinationModel):
    key: ClassVar[str] = "hangup"
    hangup: Literal[True]


# The explicit registry of destination kinds, by key.
DESTINATIONS: dict[str, type[DestinationModel]] = {
    model.key: model
    for model in (
        ToExtension,
        ToRingGroup,
        ToIvr,
        ToSchedule,
        ToVoicemail,
        ToConference,
        ToNumber,
        ToMessage,
        ToHangup,
    )
}


def destination_key(value: Any) -> str | None:
    """The union's discriminator: the one key of a mapping, or a model's own key."""
    if isinstance(value, DestinationModel):
        return value.key
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if isinstance(key, str) else None
    return None


Destination = Annotated[
    Annotated[ToExtension, Tag("extension")]
    | Annotated[ToRingGroup, Tag("ring_group")]
    | Annotated[ToIvr, Tag("ivr")]
    | Annotated[ToSchedule, Tag("schedule")]
    | Annotated[ToVoicemail, Tag("voicemail")]
    | Annotated[ToConference, Tag("conference")]
    | Annotated[ToNumber, Tag("number")]
    | Annotated[ToMessage, Tag("message")]
    | Annotated[ToHangup, Tag("hangup")],
    Discriminator(
        destination_key,
        custom_error_type="destination",
        custom_error_message=(
            "a destination is a one-key mapping: " + ", ".join(DESTINATIONS) + " (e.g. {ivr: main})"
        ),
    ),
]

HANGUP = ToHangup(hangup=True)
