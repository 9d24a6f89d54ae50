"""Checks across the parts of one tenant's dial plan, run when a file is loaded and again
when a stored plan is read back.

Every problem is reported, each at its own location (``numbers[0].destination.schedule``),
so the loader can name the YAML line: a validator may raise a ``ValidationError`` whose
line errors pydantic re-roots under the model being validated.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from centralita.config.dialplan_destinations import (
    DestinationModel,
    ToExtension,
    ToSchedule,
    ToVoicemail,
)
from centralita.config.dialplan_nodes import (
    CarrierConfig,
    ConferenceConfig,
    ExtensionVoicemail,
    Forwarding,
    IvrConfig,
    RingGroupConfig,
    RingGroupOpening,
    ScheduleConfig,
    VirtualNumberConfig,
    VoicemailBoxConfig,
    is_external,
)
from centralita.config.dialplan_values import holiday_regions

Loc = tuple[int | str, ...]
_Node = tuple[str, str]  # ("schedule", "office")


class ExtensionLike(Protocol):
    @property
    def number(self) -> str: ...
    @property
    def voicemail(self) -> ExtensionVoicemail | None: ...
    @property
    def forwarding(self) -> Forwarding | None: ...
    @property
    def simultaneous_ring(self) -> Sequence[str]: ...


class DialPlanLike(Protocol):
    """What the checks read: a TenantConfig and a stored DialPlan both have it."""

    @property
    def country(self) -> str | None: ...
    @property
    def extensions(self) -> Sequence[ExtensionLike]: ...
    @property
    def carriers(self) -> Sequence[CarrierConfig]: ...
    @property
    def numbers(self) -> Sequence[VirtualNumberConfig]: ...
    @property
    def schedules(self) -> Sequence[ScheduleConfig]: ...
    @property
    def ivrs(self) -> Sequence[IvrConfig]: ...
    @property
    def ring_groups(self) -> Sequence[RingGroupConfig]: ...
    @property
    def voicemail_boxes(self) -> Sequence[VoicemailBoxConfig]: ...
    @property
    def conferences(self) -> Sequence[ConferenceConfig]: ...


class _Issues:
    def __init__(self) -> None:
        self.errors: list[InitErrorDetails] = []

    def add(self, loc: Loc, kind: str, message: str, **context: Any) -> None:
        error = PydanticCustomError(kind, message, context or None)
        self.errors.append(InitErrorDetails(type=error, loc=loc, input=context.get("value")))


def check_dial_plan(plan: DialPlanLike, title: str) -> None:
    """Raise a ValidationError listing every reference that does not hold."""
    issues = _Issues()
    _check_names(plan, issues)
    _check_internal_numbers(plan, issues)
    _check_destinations(plan, issues)
    _check_members(plan, issues)
    _check_openings(plan, issues)
    _check_holidays(plan, issues)
    _check_loops(plan, issues)
    _check_carriers(plan, issues)
    if issues.errors:
        raise ValidationError.from_exception_data(title, issues.errors)


def _check_names(plan: DialPlanLike, issues: _Issues) -> None:
    for field, items in _named(plan):
        what = f"{field.removesuffix('s').replace('_', ' ')} name"
        _unique(issues, [((field, i, "name"), item.name) for i, item in enumerate(items)], what)
    numbers = [(("numbers", i, "number"), n.number) for i, n in enumerate(plan.numbers)]
    _unique(issues, numbers, "virtual number")


def _named(plan: DialPlanLike) -> list[tuple[str, Sequence[Any]]]:
    return [
        ("carriers", plan.carriers),
        ("schedules", plan.schedules),
        ("ivrs", plan.ivrs),
        ("ring_groups", plan.ring_groups),
        ("voicemail_boxes", plan.voicemail_boxes),
        ("conferences", plan.conferences),
    ]


def _unique(issues: _Issues, values: Sequence[tuple[Loc, str]], what: str) -> None:
    seen: dict[str, Loc] = {}
    for loc, value in values:
        if value in seen:
            first = format_loc(seen[value])
            issues.add(
                loc,
                "duplicate",
                "duplicate {what} '{value}' (also at {first})",
                what=what,
                value=value,
                first=first,
            )
        else:
            seen[value] = loc


def format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _check_internal_numbers(plan: DialPlanLike, issues: _Issues) -> None:
    """Extensions, IVRs, ring groups and conference rooms share one numbering plan."""
    values: list[tuple[Loc, str]] = [
        (("extensions", i, "number"), e.number) for i, e in enumerate(plan.extensions)
    ]
    values += [(("ivrs", i, "number"), m.number) for i, m in enumerate(plan.ivrs) if m.number]
    values += [
        (("ring_groups", i, "number"), g.number) for i, g in enumerate(plan.ring_groups) if g.number
    ]
    values += [
        (("conferences", i, "number"), c.number) for i, c in enumerate(plan.conferences) if c.number
    ]
    _unique(issues, values, "internal number")


def destinations(plan: DialPlanLike) -> Iterator[tuple[Loc, DestinationModel]]:
    """Every destination of the plan, with where it is."""
    for i, ext in enumerate(plan.extensions):
        yield from _forwarding(("extensions", i, "forwarding"), ext.forwarding)
    for i, did in enumerate(plan.numbers):
        yield ("numbers", i, "destination"), did.destination
    for i, schedule in enumerate(plan.schedules):
        yield ("schedules", i, "open"), schedule.open
        yield ("schedules", i, "closed"), schedule.closed
    for i, ivr in enumerate(plan.ivrs):
        for key, option in ivr.options.items():
            yield ("ivrs", i, "options", key), option
        yield ("ivrs", i, "after_loops"), ivr.after_loops
        if ivr.diversion is not None:
            yield ("ivrs", i, "diversion"), ivr.diversion
    for i, group in enumerate(plan.ring_groups):
        yield ("ring_groups", i, "no_answer"), group.no_answer
        if isinstance(group.opening, RingGroupOpening) and group.opening.closed is not None:
            yield ("ring_groups", i, "opening", "closed"), group.opening.closed


def _forwarding(loc: Loc, rules: Forwarding | None) -> Iterator[tuple[Loc, DestinationModel]]:
    if rules is None:
        return
    if rules.unconditional is not None:
        yield (*loc, "unconditional"), rules.unconditional
    if rules.busy is not None:
        yield (*loc, "busy"), rules.busy
    if rules.no_answer is not None:
        yield (*loc, "no_answer", "to"), rules.no_answer.to
    if rules.unreachable is not None:
        yield (*loc, "unreachable", "to"), rules.unreachable.to


def _check_destinations(plan: DialPlanLike, issues: _Issues) -> None:
    known: dict[str, set[str]] = {
        "extension": {e.number for e in plan.extensions},
        "ring_group": {g.name for g in plan.ring_groups},
        "ivr": {m.name for m in plan.ivrs},
        "schedule": {s.name for s in plan.schedules},
        "voicemail": {b.name for b in plan.voicemail_boxes}
        | {e.number for e in plan.extensions if e.voicemail is not None},
        "conference": {c.name for c in plan.conferences},
    }
    for loc, destination in destinations(plan):
        names = known.get(destination.key)
        if names is None or destination.target in names:
            continue
        issues.add(
            (*loc, destination.key),
            "unknown_reference",
            _unknown(plan, destination),
            value=destination.target,
        )


def _unknown(plan: DialPlanLike, destination: DestinationModel) -> str:
    target = destination.target
    if isinstance(destination, ToVoicemail) and destination.personal:
        if any(e.number == target for e in plan.extensions):
            return f"extension {target} has no voicemail (set its voicemail: {{pin: ...}})"
        return f"no extension {target} to take voicemail"
    if isinstance(destination, ToExtension):
        return f"no extension {target} in this tenant"
    what = "voicemail box" if destination.key == "voicemail" else destination.key
    return f"no {what.replace('_', ' ')} named '{target}' in this tenant"


def _check_members(plan: DialPlanLike, issues: _Issues) -> None:
    numbers = {e.number for e in plan.extensions}
    for i, group in enumerate(plan.ring_groups):
        _members(issues, ("ring_groups", i, "members"), group.members, numbers)
    for i, ext in enumerate(plan.extensions):
        loc: Loc = ("extensions", i, "simultaneous_ring")
        _members(issues, loc, ext.simultaneous_ring, numbers - {ext.number})


def _members(issues: _Issues, loc: Loc, members: Sequence[str], numbers: set[str]) -> None:
    _unique(issues, [((*loc, j), m) for j, m in enumerate(members)], "member")
    for j, member in enumerate(members):
        if not is_external(member) and member not in numbers:
            issues.add(
                (*loc, j), "unknown_reference", "no extension {value} in this tenant", value=member
            )


def _check_openings(plan: DialPlanLike, issues: _Issues) -> None:
    """A ring group opened by a schedule names one of the tenant's schedules."""
    names = {s.name for s in plan.schedules}
    for i, group in enumerate(plan.ring_groups):
        opening = group.opening
        schedule = opening.schedule if isinstance(opening, RingGroupOpening) else None
        if schedule is not None and schedule not in names:
            issues.add(
                ("ring_groups", i, "opening", "schedule"),
                "unknown_reference",
                "no schedule named '{value}' in this tenant",
                value=schedule,
            )


def _check_holidays(plan: DialPlanLike, issues: _Issues) -> None:
    for i, schedule in enumerate(plan.schedules):
        calendar = schedule.holidays
        if calendar is None:
            continue
        loc: Loc = ("schedules", i, "holidays")
        country = calendar.country or plan.country
        if country is None:
            issues.add(loc, "country", "give holidays a country (the tenant has none)")
        elif country not in holiday_regions():
            issues.add(
                loc, "country", "no public holiday calendar for country '{value}'", value=country
            )
        elif calendar.subdivision and calendar.subdivision not in holiday_regions()[country]:
            issues.add(
                (*loc, "subdivision"),
                "subdivision",
                "'{value}' is not a subdivision of {country} (one of: {known})",
                value=calendar.subdivision,
                country=country,
                known=", ".join(holiday_regions()[country]),
            )


def _check_loops(plan: DialPlanLike, issues: _Issues) -> None:
    """A schedule, an IVR's diversion, an unconditional forward and a closed ring group pass
    a call on at once: a cycle of them would spin without the caller doing anything."""
    edges: dict[_Node, tuple[Loc, list[DestinationModel]]] = {}
    schedules = {schedule.name: schedule for schedule in plan.schedules}
    for i, schedule in enumerate(plan.schedules):
        edges[("schedule", schedule.name)] = (("schedules", i), [schedule.open, schedule.closed])
    for i, group in enumerate(plan.ring_groups):
        if isinstance(group.opening, RingGroupOpening):
            closed = _when_closed(group.opening, schedules)
            edges[("ring_group", group.name)] = (("ring_groups", i, "opening"), closed)
    for i, ivr in enumerate(plan.ivrs):
        if ivr.diversion is not None:
            edges[("ivr", ivr.name)] = (("ivrs", i, "diversion"), [ivr.diversion])
    for i, ext in enumerate(plan.extensions):
        if ext.forwarding is not None and ext.forwarding.unconditional is not None:
            loc: Loc = ("extensions", i, "forwarding", "unconditional")
            edges[("extension", ext.number)] = (loc, [ext.forwarding.unconditional])
    reported: set[_Node] = set()
    for start in edges:
        cycle = _cycle_from(start, edges)
        if cycle is not None and not reported & set(cycle):
            reported.update(cycle)
            path = " -> ".join(
                f"{kind.replace('_', ' ')} {name}" for kind, name in [*cycle, cycle[0]]
            )
            issues.add(
                edges[start][0], "loop", "destinations go round in a loop: {value}", value=path
            )


def _when_closed(
    opening: RingGroupOpening, schedules: dict[str, ScheduleConfig]
) -> list[DestinationModel]:
    """Where a closed ring group sends its calls. Its own schedule is closed at that moment,
    so a ``closed`` leading to that schedule leads on to the schedule's ``closed``."""
    schedule = schedules.get(opening.schedule) if opening.schedule is not None else None
    closed = opening.closed
    if closed is None or (schedule is not None and closed == ToSchedule(schedule=schedule.name)):
        return [schedule.closed] if schedule is not None else []
    return [closed]


def _cycle_from(
    start: _Node, edges: dict[_Node, tuple[Loc, list[DestinationModel]]]
) -> list[_Node] | None:
    stack = [[start]]
    while stack:
        path = stack.pop()
        for target in edges[path[-1]][1]:
            following = (target.key, target.target)
            if following == start:
                return path
            if following in edges and following not in path:
                stack.append([*path, following])
    return None


def _check_carriers(plan: DialPlanLike, issues: _Issues) -> None:
    """A national number format is national to the tenant's country."""
    if plan.country is not None:
        return
    for i, carrier in enumerate(plan.carriers):
        if carrier.number_format == "national":
            issues.add(
                ("carriers", i, "number_format"),
                "country",
                "a national number format needs the tenant's country",
                value=carrier.number_format,
            )
