"""Feature codes: what users dial from their own phone to change how their calls are handled.

Theory of operation. The tenant's codes are :class:`~centralita.config.dialplan.FeatureCodes`
(``DialPlan.feature_codes``). :func:`feature_for` recognises a dialled string: one of the
codes exactly, or ``forward_on`` / ``record_greeting`` followed by their argument (the
configuration makes sure no other code starts with those two, so this is unambiguous).
:func:`run` then carries the feature out for the calling extension (``call.caller``):

- ``dnd_on`` / ``dnd_off``: :meth:`RoutingEnv.set_dnd`; the extension's calls then take its
  busy path and are logged as ``dnd``. Confirmed by a prompt.
- ``forward_on`` TARGET: every call of the extension goes to TARGET instead, winning over
  its configured forwarding (:meth:`RoutingEnv.set_forward_override`). TARGET is another
  extension of the tenant or a phone number: international (``+34...``, or with the
  country's international prefix, ``0034...``) or national in the tenant's country
  (``DialPlan.country``), normalised to E.164 with libphonenumber. Refused: the extension
  itself, numbers that are not valid for their country, premium-rate numbers (a forward to
  one would bill every inbound call: toll fraud), and the tenant's own virtual numbers (the
  call would come back in through the carrier). Without TARGET, or after a refused one,
  the user is asked to key it in (:data:`FORWARD_ATTEMPTS` tries in all). The confirmation
  reads the target back digit by digit.
- ``forward_off``: the forward is cleared.
- ``voicemail``: the caller's own box, PIN menu (:func:`centralita.routing.voicemail.access`).
- ``record_greeting`` IVR: the greeting of the IVR whose short number follows is recorded by
  phone (:func:`centralita.routing.ivr.record_greeting`). Any extension of the tenant may do
  it today: there is no notion of an administrator extension yet.

Only an extension of the tenant may use feature codes: a call from anywhere else is hung up
unanswered. Every outcome is a step of the routing trace (``node="feature_code"``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import phonenumbers

from centralita.config.dialplan import DialPlan, FeatureCodes, ToIvr

if TYPE_CHECKING:  # features see these as types only; keeps the CLI free of the media stack
    from centralita.routing.context import CallContext, Playable
    from centralita.routing.env import RoutingEnv

KINDS = ("dnd_on", "dnd_off", "forward_on", "forward_off", "voicemail", "record_greeting")
# What may follow a code that takes an argument: a phone number keyed in ("+" when the phone
# can send it; an international prefix such as 00 and up to 15 digits of E.164 fit in 20),
# or an IVR's short number.
_ARGUMENTS = {
    "forward_on": re.compile(r"^\+?[0-9]{1,20}$"),
    "record_greeting": re.compile(r"^[0-9]{1,16}$"),
}
_VISUAL_SEPARATORS = re.compile(r"[\s.()\-]")  # as the configuration's E.164 check drops them
FORWARD_ATTEMPTS = 2
NUMBER_TIMEOUT = 10.0  # seconds for the first key of a number asked for
NUMBER_INTER_DIGIT_TIMEOUT = 5.0
_DIGIT_KEYS = "0123456789#"


@dataclass(frozen=True, slots=True)
class FeatureCode:
    """A recognised feature code: ``kind`` is one of :data:`KINDS` (the names of
    :class:`FeatureCodes`' fields); ``argument`` the forward target or IVR number dialled
    after the code ("" when none was)."""

    kind: str
    argument: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown feature code kind {self.kind!r}")


class InvalidForwardTarget(ValueError):
    """Why a forward target is refused, in words fit for the trace and the CLI."""


def feature_for(dialled: str, codes: FeatureCodes) -> FeatureCode | None:
    """The feature ``dialled`` asks for, or None when it is no feature code of the tenant."""
    text = dialled.strip()
    exact = {code: kind for kind, code in codes.model_dump().items()}
    if text in exact:
        return FeatureCode(exact[text])
    for kind, prefix in codes.prefixes.items():
        argument = text.removeprefix(prefix)
        if text.startswith(prefix) and _ARGUMENTS[kind].match(argument):
            return FeatureCode(kind, argument)
    return None


def forward_target(
    dialled: str,
    *,
    extension: str,
    plan: DialPlan | None,
    extension_exists: Callable[[str], bool],
) -> str:
    """The canonical forward target of ``extension`` for what the user dialled or typed:
    another extension's number, or an E.164 number. Raises :class:`InvalidForwardTarget`."""
    text = _VISUAL_SEPARATORS.sub("", dialled)
    if not text:
        raise InvalidForwardTarget("no number was given")
    if text == extension:
        raise InvalidForwardTarget(f"{text} is the extension itself")
    if text.isdigit() and extension_exists(text):
        return text
    number = _phone_number(text, None if plan is None else plan.country)
    if plan is not None and plan.virtual_number(number) is not None:
        raise InvalidForwardTarget(f"{number} is a virtual number of the tenant")
    return number


def _phone_number(text: str, country: str | None) -> str:
    if country is None and not text.startswith("+"):
        raise InvalidForwardTarget(
            f"{text} is no extension of the tenant; without the tenant's country a phone "
            "number must be international (+...)"
        )
    try:
        parsed = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        where = f" in {country}" if country else ""
        raise InvalidForwardTarget(f"{text} is neither an extension nor a valid number{where}")
    if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.PREMIUM_RATE:
        raise InvalidForwardTarget(f"{text} is a premium-rate number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# ---------------------------------------------------------------- running a feature


async def run(call: CallContext, env: RoutingEnv, feature: FeatureCode) -> None:
    """Carry ``feature`` out for the calling extension (see the module docstring)."""
    if not env.extension_exists(call.caller):
        _note(call, feature.kind, result="refused", reason="the caller is not an extension")
        await call.hangup()
        return
    await _HANDLERS[feature.kind](call, env, feature.argument)


async def _dnd_on(call: CallContext, env: RoutingEnv, argument: str) -> None:
    await _set_dnd(call, env, True)


async def _dnd_off(call: CallContext, env: RoutingEnv, argument: str) -> None:
    await _set_dnd(call, env, False)


async def _set_dnd(call: CallContext, env: RoutingEnv, on: bool) -> None:
    kind = "dnd_on" if on else "dnd_off"
    await env.set_dnd(call.caller, on)
    _note(call, kind, extension=call.caller)
    await _confirm(call, [kind])


async def _forward_on(call: CallContext, env: RoutingEnv, argument: str) -> None:
    await call.answer()
    dialled = argument
    for _ in range(FORWARD_ATTEMPTS):
        if not dialled:
            dialled = await _ask_number(call)
        try:
            target = forward_target(
                dialled, extension=call.caller, plan=env.plan, extension_exists=env.extension_exists
            )
        except InvalidForwardTarget as refused:
            _note(call, "forward_on", dialled=dialled, result="refused", reason=str(refused))
            await call.play("invalid_option")
            dialled = ""
            continue
        await env.set_forward_override(call.caller, target)
        _note(call, "forward_on", extension=call.caller, target=target)
        await _confirm(call, ["forward_on", *_spoken(target)])
        return
    await _confirm(call, ["goodbye"])


async def _forward_off(call: CallContext, env: RoutingEnv, argument: str) -> None:
    await env.set_forward_override(call.caller, None)
    _note(call, "forward_off", extension=call.caller)
    await _confirm(call, ["forward_off"])


async def _voicemail(call: CallContext, env: RoutingEnv, argument: str) -> None:
    # Imported here: the voicemail feature lives in its own module, loaded on first use.
    from centralita.routing import voicemail

    _note(call, "voicemail", box=call.caller)
    await voicemail.access(call, env, call.caller)


async def _record_greeting(call: CallContext, env: RoutingEnv, argument: str) -> None:
    from centralita.routing import ivr  # as for voicemail: loaded on first use

    number = argument
    if not number:
        await call.answer()
        number = await _ask_number(call)
    destination = env.plan.internal(number)
    if not isinstance(destination, ToIvr):
        _note(call, "record_greeting", dialled=number, result="refused", reason="no such IVR")
        await _confirm(call, ["invalid_option", "goodbye"])
        return
    _note(call, "record_greeting", ivr=destination.ivr, extension=call.caller)
    await ivr.record_greeting(call, env, destination.ivr)


_Handler = Callable[["CallContext", "RoutingEnv", str], Awaitable[None]]
_HANDLERS: dict[str, _Handler] = {
    "dnd_on": _dnd_on,
    "dnd_off": _dnd_off,
    "forward_on": _forward_on,
    "forward_off": _forward_off,
    "voicemail": _voicemail,
    "record_greeting": _record_greeting,
}


# ---------------------------------------------------------------- prompts and the trace


async def _ask_number(call: CallContext) -> str:
    first = await call.play("enter_number", interrupt_on=_DIGIT_KEYS)
    return await call.collect_digits(
        20,
        NUMBER_TIMEOUT,
        first_digit=first,
        inter_digit_timeout=NUMBER_INTER_DIGIT_TIMEOUT,
    )


async def _confirm(call: CallContext, prompts: list[Playable]) -> None:
    await call.answer()
    await call.play(prompts)
    await call.hangup()


def _spoken(number: str) -> list[Playable]:
    """A number read back key by key (a phone number is not a quantity)."""
    return ["digit_plus" if key == "+" else f"digit_{key}" for key in number]


def _note(call: CallContext, feature: str, **fields: str) -> None:
    call.note(node="feature_code", feature=feature, **fields)
