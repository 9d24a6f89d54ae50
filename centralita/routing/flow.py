"""Following a call through the tenant's dial plan (DESIGN.md, "call flow"): the runtime of
the paths :mod:`centralita.routing.resolve` describes without placing the call.

Theory of operation
-------------------
A call enters by :func:`route_number` (a virtual number from a carrier: the welcome greeting,
then its destination), by :func:`route_internal` (a phone dialled a short number, an
extension, or a public number) or by :func:`route` (any destination). A walk
(:class:`_Walk`, one per call) then follows destinations: schedules are read on
:meth:`RoutingEnv.now` and followed; extensions and ring groups are run by
:mod:`~centralita.routing.extension` and :mod:`~centralita.routing.ring_group`; IVR menus,
voicemail and conference rooms by :class:`Features`; an external number is dialled through
the carrier with the company's number; a message is played, then the call is hung up.

Steps that pass the call on (forwarding, a group's no-answer, an IVR's key) call the
``goto`` they were given: :meth:`_Walk.follow`, so that the trace and loop detection stay
here. A destination reached again *without the caller's input* since it was last reached is a
loop: the walk notes it and hangs up. The caller's input is an IVR passing the call on to
anything but its ``after_loops`` fallback (a key, or a dialled extension; when
``after_loops`` is also an option's destination it counts as a key, so the ambiguous case
never cuts a real call): it starts a new stretch with nothing seen. Each stretch is also
bounded (:data:`MAX_HOPS`, resolve's bound) and so is the whole call (:data:`MAX_CALL_HOPS`),
keys included, so no configuration can make a walk endless or its recursion deep.

Ending calls: a destination naming nothing (removed since the plan was written) is noted
"not found (404)" and refused with 404; the other refusals (busy 486, unavailable 480, ...)
come from :func:`~centralita.routing.extension.refuse`: an unanswered caller gets the final
response when the call offers ``reject(status)`` (:class:`Rejecting`), an answered one
hears a prompt and is hung up. :func:`route_internal` raises :class:`NotFoundError` before
anything happens to the call when the dialled number reaches nothing: the runtime answers
404 and writes the caller's row as ``wrong_number``.

Trace: every node is a ``call.note(node=..., detail=..., then=...)`` shaped like resolve's
:class:`~centralita.routing.resolve.Step` (``node`` as :func:`describe` names it). Nodes the
features run (IVR, voicemail, conference) get an arrival step here; the features add theirs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers

from centralita.config.dialplan import (
    ConferenceConfig,
    DestinationModel,
    Greeting,
    IvrConfig,
    ScheduleConfig,
    ToConference,
    ToExtension,
    ToHangup,
    ToIvr,
    ToMessage,
    ToNumber,
    ToRingGroup,
    ToSchedule,
    ToVoicemail,
    VirtualNumberConfig,
)
from centralita.routing import extension, ring_group
from centralita.routing.context import CallContext, DialStatus, DialTarget
from centralita.routing.env import RoutingEnv
from centralita.routing.extension import (
    DEFAULT_RING_SECONDS,
    DIAL_REFUSALS,
    UNKNOWN_NUMBER,
    Answered,
    Refusal,
    Rejecting,
    refuse,
    trace_step,
)
from centralita.routing.resolve import MAX_STEPS, NOT_FOUND, describe, schedule_state
from centralita.sip.errors import NotFound

__all__ = [
    "MAX_CALL_HOPS",
    "MAX_HOPS",
    "Answered",
    "Features",
    "Goto",
    "NotFoundError",
    "Refusal",
    "Rejecting",
    "default_features",
    "refuse",
    "route",
    "route_internal",
    "route_number",
]

# Hops since the caller's last input (a longer stretch is a runaway chain), and in all.
MAX_HOPS = MAX_STEPS
MAX_CALL_HOPS = 100

Goto = Callable[[DestinationModel], Awaitable[None]]


class NotFoundError(NotFound):
    """:func:`route_internal`: the dialled number reaches nothing (404, RFC 3261 §21.4.4).
    Raised before the call is answered or anything is played to it."""

    def __init__(self, dialled: str) -> None:
        super().__init__(f"{dialled}: no such number")
        self.dialled = dialled


@dataclass(frozen=True)
class Features:
    """The features the walk hands calls to (tests inject fakes)."""

    ivr: Callable[[CallContext, RoutingEnv, IvrConfig, Goto], Awaitable[None]]
    voicemail: Callable[[CallContext, RoutingEnv, ToVoicemail], Awaitable[None]]
    conference: Callable[[CallContext, RoutingEnv, ConferenceConfig], Awaitable[None]]


def default_features() -> Features:
    """The built-in IVR, voicemail and conference features."""
    # Imported here, not at the top: those modules import this one (for Goto).
    from centralita.routing import conference, ivr, voicemail

    return Features(ivr=ivr.run, voicemail=voicemail.deposit, conference=conference.run)


async def route(
    call: CallContext,
    env: RoutingEnv,
    destination: DestinationModel,
    *,
    features: Features | None = None,
    depth: int = 0,
) -> None:
    """Follow ``destination`` to the end of the call. ``depth``: hops an enclosing walk has
    already taken (they count towards :data:`MAX_CALL_HOPS`)."""
    walk = _Walk(call, env, features or default_features(), depth)
    await walk.follow(destination)


async def route_number(
    call: CallContext,
    env: RoutingEnv,
    number_config: VirtualNumberConfig,
    *,
    features: Features | None = None,
) -> None:
    """A call to one of the tenant's virtual numbers: its welcome greeting (the call is
    answered for it), then its destination."""
    welcome = number_config.welcome
    trace_step(
        call,
        f"number {number_config.number}",
        f"welcome {_greeting_name(welcome)}" if welcome else "",
        describe(number_config.destination),
    )
    if welcome is not None:
        await call.answer()
        await call.play(_playable(env, welcome))
    await route(call, env, number_config.destination, features=features, depth=1)


async def route_internal(
    call: CallContext, env: RoutingEnv, dialled: str, *, features: Features | None = None
) -> None:
    """A phone of the tenant dialled ``dialled``: a short number of the plan (extension,
    IVR, ring group, conference room), an extension provisioned since the plan was written,
    one of the tenant's own virtual numbers (followed as a call from outside would be), or a
    public number (E.164, or national in the tenant's country) dialled out with the company's
    number. Raises :class:`NotFoundError`, before touching the call, when it is none."""
    text = dialled.strip()
    destination = env.plan.internal(text)
    if destination is None and text.isdigit() and env.extension_exists(text):
        destination = ToExtension(extension=text)
    if isinstance(destination, ToExtension) and not env.extension_exists(text):
        destination = None  # removed since the plan was written
    if destination is None:
        public = public_number(text, env.plan.country)
        own = env.plan.virtual_number(public) if public else None
        if own is not None:
            await route_number(call, env, own, features=features)
            return
        destination = ToNumber(number=public) if public else None
    if destination is None:
        trace_step(call, f"number {text}", NOT_FOUND)
        raise NotFoundError(text)
    trace_step(call, f"internal {text}", then=describe(destination))
    await route(call, env, destination, features=features, depth=1)


def public_number(text: str, country: str | None) -> str | None:
    """``text`` as E.164 when it is a valid public number: international (``+34...``, or
    with the country's international prefix such as ``0034...``) or national in ``country``
    (ITU-T E.164 §6; libphonenumber's numbering plans)."""
    if not text or not any(ch.isdigit() for ch in text):
        return None
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _greeting_name(greeting: Greeting) -> str:
    return f"prompt {greeting.prompt}" if greeting.prompt else f"file {greeting.file}"


def _playable(env: RoutingEnv, greeting: Greeting) -> str | Path:
    if greeting.prompt is not None:
        return greeting.prompt
    assert greeting.file is not None  # Greeting validates exactly one of them
    return env.media_path(greeting.file)


class _Walk:
    """One call's way through the dial plan (see the module docstring)."""

    def __init__(self, call: CallContext, env: RoutingEnv, features: Features, hops: int) -> None:
        self.call = call
        self.env = env
        self.features = features
        self.answered = Answered()
        self.seen: set[tuple[str, str]] = set()  # since the caller's last input
        self.hops = 0  # since the caller's last input
        self.total = hops

    async def follow(self, destination: DestinationModel) -> None:
        """The ``goto`` of every step: loop and bound checks, then the destination."""
        name = describe(destination)
        node = (destination.key, destination.target)
        if node in self.seen:
            self._note(name, "reached again without the caller's input: a loop", "hang up")
            await self._hang_up()
            return
        if self.hops >= MAX_HOPS or self.total >= MAX_CALL_HOPS:
            bound = MAX_HOPS if self.hops >= MAX_HOPS else MAX_CALL_HOPS
            self._note(name, f"more than {bound} hops: the walk stops here", "hang up")
            await self._hang_up()
            return
        self.seen.add(node)
        self.hops += 1
        self.total += 1
        await self._visit(destination)

    async def _visit(self, destination: DestinationModel) -> None:
        plan = self.env.plan
        match destination:
            case ToExtension(extension=number):
                await extension.run(
                    self.call, self.env, number, self.follow, answered=self.answered
                )
            case ToRingGroup(ring_group=name) if (group := plan.ring_group(name)) is not None:
                await ring_group.run(
                    self.call, self.env, group, self.follow, answered=self.answered
                )
            case ToSchedule(schedule=name) if (schedule := plan.schedule(name)) is not None:
                await self._schedule(schedule)
            case ToIvr(ivr=name) if (ivr := plan.ivr(name)) is not None:
                await self._ivr(ivr)
            case ToVoicemail():
                self._note(describe(destination))
                await self.features.voicemail(self.call, self.env, destination)
            case ToConference(conference=name) if (room := plan.conference(name)) is not None:
                self._note(describe(destination))
                await self.features.conference(self.call, self.env, room)
            case ToNumber(number=number):
                await self._external(number)
            case ToMessage(message=prompt):
                await self._message(prompt)
            case ToHangup():
                await self._hang_up()
            case _:
                self._note(describe(destination), NOT_FOUND)
                await refuse(self.call, UNKNOWN_NUMBER)

    async def _schedule(self, schedule: ScheduleConfig) -> None:
        state = schedule_state(self.env.plan, schedule, self.env.now())
        destination = schedule.open if state.open else schedule.closed
        self._note(
            f"schedule {schedule.name}", state.reason, describe(destination), open=state.open
        )
        await self.follow(destination)

    async def _ivr(self, ivr: IvrConfig) -> None:
        if ivr.diversion is not None:
            self._note(f"ivr {ivr.name}", "diverted", describe(ivr.diversion))
            await self.follow(ivr.diversion)
            return
        self._note(f"ivr {ivr.name}")
        await self.features.ivr(self.call, self.env, ivr, self._from_menu(ivr))

    def _from_menu(self, ivr: IvrConfig) -> Goto:
        """The menu's goto: whatever a key (or a dialled extension) chose starts a new stretch
        of the walk; only the no-input fallback continues the current one."""

        async def goto(destination: DestinationModel) -> None:
            if _chosen_by_caller(ivr, destination):
                self.seen.clear()
                self.hops = 0
            await self.follow(destination)

        return goto

    async def _external(self, number: str) -> None:
        name = f"number {number}"
        company = self.env.company_number()
        self._note(name, "dialled out through a carrier", caller_id=company)
        result = await self.call.dial([DialTarget(number)], DEFAULT_RING_SECONDS, caller_id=company)
        if result.status is DialStatus.ANSWERED:
            self.answered.by = result.answered_by or number
            self._note(name, f"answered by {self.answered.by}", answered_by=self.answered.by)
            await self.call.hangup()  # the conversation is over; the caller is still there
            return
        refusal = DIAL_REFUSALS[result.status]
        self._note(name, f"{result.status.value}: refused with {refusal.status}")
        await refuse(self.call, refusal)

    async def _message(self, prompt: str) -> None:
        self._note(f"message {prompt}", "played, then the call is hung up")
        await self.call.answer()
        await self.call.play(prompt)
        await self.call.hangup()

    async def _hang_up(self) -> None:
        self._note("hang up")
        await self.call.hangup()

    def _note(self, node: str, detail: str = "", then: str | None = None, **extra: Any) -> None:
        trace_step(self.call, node, detail, then, **extra)


def _chosen_by_caller(ivr: IvrConfig, destination: DestinationModel) -> bool:
    if destination != ivr.after_loops:
        return True
    if destination in ivr.options.values():
        return True  # a key leads there too: the benefit of the doubt goes to the caller
    return ivr.direct_dial and isinstance(destination, ToExtension)
