"""Where would a call go? Walk a tenant's dial plan without placing the call (DESIGN.md,
"call flow": the routing trace an administrator reads, and ``centralita route``).

The walk starts at the dialled number: a virtual number (E.164, normalised as the
configuration does) or an internal short number (extension, IVR, ring group, conference).
It then follows destinations, one :class:`Step` per node:

- a schedule is evaluated at ``at`` and followed to its open or closed destination;
- an IVR stops the walk: what happens next depends on the caller's keys, so its greeting,
  options and no-key fallback are listed (a diverted IVR is followed instead);
- a ring group closed at ``at`` (its ``opening``: by schedule, or closed) is followed to
  where it sends closed calls; an open one lists how it rings, then follows its no-answer
  destination (the resolver cannot know whether somebody answers, and the fallback is the
  part worth checking);
- an extension with unconditional forwarding is followed (its phones do not ring); otherwise
  its phones ring, and its busy/no-answer/unreachable forwarding are listed as branches;
- voicemail, a conference room, an external number, a message and hang-up end the walk.

A node reached twice cuts the walk with a step saying so, and an unknown number or a
destination that names nothing gives "not found (404)", as a real call would get.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic_core import PydanticCustomError

from centralita.config.dialplan import (
    HANGUP,
    ConferenceConfig,
    DestinationModel,
    DialPlan,
    ExtensionRouting,
    Forwarding,
    Greeting,
    IvrConfig,
    RingGroupConfig,
    ScheduleConfig,
    ToExtension,
    ToVoicemail,
)
from centralita.config.dialplan_nodes import RingGroupOpening
from centralita.config.dialplan_values import check_e164
from centralita.routing.schedule import Schedule, ScheduleRules, ScheduleState

NOT_FOUND = "not found (404)"
# A bound on the walk besides loop detection: the configuration checks refuse cycles that
# need no caller input, but a plan read from elsewhere may still be long.
MAX_STEPS = 32


@dataclass(frozen=True, slots=True)
class Step:
    """One node of the walk: what it is (``"schedule office"``), what it did there, and the
    destination it passed the call on to (None where the walk ends)."""

    node: str
    detail: str = ""
    then: str | None = None

    def __str__(self) -> str:
        text = f"{self.node}: {self.detail}" if self.detail else self.node
        return f"{text} → {self.then}" if self.then else text


def describe(destination: DestinationModel) -> str:
    """A destination as the trace names it: ``ring group sales``, ``voicemail 101``."""
    if destination.key == "hangup":
        return "hang up"
    return f"{destination.key.replace('_', ' ')} {destination.target}"


def schedule_rules(plan: DialPlan, schedule: ScheduleConfig) -> ScheduleRules:
    """The evaluator's rules for one schedule of ``plan``, in the tenant's time zone; a
    holiday calendar without a country uses the tenant's."""
    calendar = schedule.holidays
    return ScheduleRules(
        timezone=plan.timezone,
        hours=schedule.hours,
        country=(calendar.country or plan.country) if calendar is not None else None,
        subdivision=calendar.subdivision if calendar is not None else None,
        closed_dates=schedule.closed_dates,
        open_dates=schedule.open_dates,
    )


def schedule_state(plan: DialPlan, schedule: ScheduleConfig, at: datetime) -> ScheduleState:
    """Whether ``schedule`` of ``plan`` is open at ``at`` (aware), and why."""
    return Schedule(schedule_rules(plan, schedule)).state_at(at)


@dataclass(frozen=True, slots=True)
class GroupOpening:
    """Whether a ring group takes calls at an instant: ``reason`` says why (empty for a group
    always open), ``closed`` where a closed group sends the call (None: the group is open)."""

    reason: str
    closed: DestinationModel | None = None

    @property
    def open(self) -> bool:
        return self.closed is None


def ring_group_opening(plan: DialPlan, group: RingGroupConfig, at: datetime) -> GroupOpening:
    """``group``'s opening at ``at`` (aware): always open; open while its schedule is open;
    or closed, its calls going to ``opening.closed`` or else to the schedule's own ``closed``.
    The dry run and the runtime both ask here, so they cannot disagree."""
    opening = group.opening
    if not isinstance(opening, RingGroupOpening):
        return GroupOpening("")  # always open
    if opening.schedule is None:
        return GroupOpening("closed", opening.closed or HANGUP)  # validated: closed is set
    schedule = plan.schedule(opening.schedule)
    if schedule is None:  # the plan's checks refuse this: better ring than lose the call
        return GroupOpening(f"schedule {opening.schedule} {NOT_FOUND}: rings as if open")
    state = schedule_state(plan, schedule, at)
    reason = f"schedule {schedule.name} {state.reason}"
    if state.open:
        return GroupOpening(reason)
    return GroupOpening(reason, opening.closed or schedule.closed)


def resolve(
    plan: DialPlan,
    *,
    dialled: str,
    caller: str,
    at: datetime,
    extension_exists: Callable[[str], bool],
) -> list[Step]:
    """The path a call from ``caller`` to ``dialled`` would take at ``at`` (aware).

    ``extension_exists`` tells whether an extension is provisioned (the store's extensions
    table): one removed since the plan was applied is not found, one added since is reached
    with no routing of its own. ``caller`` does not change the path yet (no caller-ID
    routing); it is part of the signature so that the trace of a real call and of
    ``centralita route`` come from the same call.
    """
    del caller  # no caller-dependent routing exists yet (see the docstring)
    walk = _Walk(plan, at, extension_exists)
    first, destination = walk.entry(dialled)
    steps = [first]
    seen: set[tuple[str, str]] = set()
    while destination is not None:
        name = describe(destination)
        if (destination.key, destination.target) in seen:
            steps.append(Step(name, "reached again: a loop, the walk stops here"))
            break
        if len(steps) >= MAX_STEPS:
            steps.append(Step(name, f"more than {MAX_STEPS} steps, the walk stops here"))
            break
        seen.add((destination.key, destination.target))
        step, destination = walk.visit(destination)
        steps.append(step)
    return steps


_Visit = tuple[Step, DestinationModel | None]


class _Walk:
    def __init__(
        self, plan: DialPlan, at: datetime, extension_exists: Callable[[str], bool]
    ) -> None:
        self.plan = plan
        self.at = at
        self.extension_exists = extension_exists

    # -------------------------------------------------------------- where the call enters

    def entry(self, dialled: str) -> _Visit:
        text = dialled.strip()
        if text.startswith("+"):
            return self._virtual_number(text)
        destination = self.plan.internal(text)
        if destination is None and text.isdigit() and self.extension_exists(text):
            destination = ToExtension(extension=text)  # provisioned after the plan
        if destination is None:
            return Step(f"number {text}", NOT_FOUND), None
        return Step(f"internal {text}", then=describe(destination)), destination

    def _virtual_number(self, text: str) -> _Visit:
        try:
            number = check_e164(text)
        except PydanticCustomError as exc:
            return Step(f"number {text}", f"{NOT_FOUND}: {exc.message()}"), None
        config = self.plan.virtual_number(number)
        if config is None:
            return Step(f"number {number}", NOT_FOUND), None
        detail = f"welcome {_greeting(config.welcome)}" if config.welcome else ""
        return Step(f"number {number}", detail, describe(config.destination)), config.destination

    # -------------------------------------------------------------- destinations

    def visit(self, destination: DestinationModel) -> _Visit:
        name = describe(destination)
        target = destination.target
        match destination.key:
            case "schedule":
                schedule = self.plan.schedule(target)
                return self._schedule(schedule) if schedule else _missing(name)
            case "ivr":
                ivr = self.plan.ivr(target)
                return _ivr(ivr) if ivr else _missing(name)
            case "ring_group":
                group = self.plan.ring_group(target)
                return self._ring_group(group) if group else _missing(name)
            case "extension":
                return self._extension(target)
            case "voicemail":
                assert isinstance(destination, ToVoicemail)
                return self._voicemail(destination), None
            case "conference":
                room = self.plan.conference(target)
                return (_conference(room), None) if room else _missing(name)
            case "number":
                return Step(name, "dialled out through a carrier"), None
            case "message":
                return Step(name, "played, then the call is hung up"), None
            case _:
                return Step(name), None

    def _schedule(self, schedule: ScheduleConfig) -> _Visit:
        state = schedule_state(self.plan, schedule, self.at)
        destination = schedule.open if state.open else schedule.closed
        return Step(f"schedule {schedule.name}", state.reason, describe(destination)), destination

    def _ring_group(self, group: RingGroupConfig) -> _Visit:
        name = f"ring group {group.name}"
        opening = ring_group_opening(self.plan, group, self.at)
        if opening.closed is not None:
            return Step(name, opening.reason, describe(opening.closed)), opening.closed
        each = " each" if group.strategy == "sequential" else ""
        rounds = f"{group.loops} round{'s' if group.loops > 1 else ''}"
        detail = (
            f"{group.strategy}: {', '.join(group.members)}, {group.member_timeout} s{each}, "
            f"{rounds}; no answer"
        )
        if opening.reason:
            detail = f"{opening.reason}; {detail}"
        return Step(name, detail, describe(group.no_answer)), group.no_answer

    def _extension(self, number: str) -> _Visit:
        name = f"extension {number}"
        if not self.extension_exists(number):
            return Step(name, NOT_FOUND), None
        routing = self.plan.extension(number) or ExtensionRouting(number=number)
        forwarding = routing.forwarding or Forwarding()
        if forwarding.unconditional is not None:
            forward = forwarding.unconditional
            return Step(name, "unconditional forwarding", describe(forward)), forward
        parts = ["rings its phones"]
        if routing.simultaneous_ring:
            parts[0] += " and " + ", ".join(routing.simultaneous_ring)
        if forwarding.busy is not None:
            parts.append(f"if busy or do-not-disturb → {describe(forwarding.busy)}")
        if forwarding.no_answer is not None:
            no_answer = forwarding.no_answer
            parts.append(f"if no answer in {no_answer.after} s → {describe(no_answer.to)}")
        if forwarding.unreachable is not None:
            parts.append(f"if unreachable → {describe(forwarding.unreachable.to)}")
        return Step(name, "; ".join(parts)), None

    def _voicemail(self, destination: ToVoicemail) -> Step:
        name = describe(destination)
        if destination.personal:
            routing = self.plan.extension(destination.voicemail)
            box = routing.voicemail if routing else None
            if routing is None or box is None:
                return Step(name, f"{NOT_FOUND}: the extension has no voicemail box")
            email = box.email or routing.email
        else:
            shared = self.plan.voicemail_box(destination.voicemail)
            if shared is None:
                return Step(name, NOT_FOUND)
            email = shared.email
        return Step(name, f"e-mail to {email}" if email else "no e-mail")


def _missing(name: str) -> _Visit:
    return Step(name, NOT_FOUND), None


def _greeting(greeting: Greeting) -> str:
    return f"prompt {greeting.prompt}" if greeting.prompt else f"file {greeting.file}"


def _ivr(ivr: IvrConfig) -> _Visit:
    name = f"ivr {ivr.name}"
    if ivr.diversion is not None:
        return Step(name, "diverted", describe(ivr.diversion)), ivr.diversion
    parts = [f"greeting {_greeting(ivr.greeting)}" if ivr.greeting else "no greeting"]
    keys = ", ".join(f"{key} → {describe(option)}" for key, option in ivr.options.items())
    parts.append(f"keys {keys}" if keys else "no keys")
    if ivr.direct_dial:
        parts.append("extensions may be dialled directly")
    parts.append(
        f"no key in {ivr.timeout:g} s, {ivr.loops} loop{'s' if ivr.loops > 1 else ''}"
        f" → {describe(ivr.after_loops)}"
    )
    parts.append("waits for the caller's key")
    return Step(name, "; ".join(parts)), None


def _conference(room: ConferenceConfig) -> Step:
    parts = [f"room {room.number}" if room.number else "room"]
    if room.pin is not None:
        parts.append("asks for the PIN")
    return Step(f"conference {room.name}", ", ".join(parts))
