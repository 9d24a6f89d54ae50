"""Fakes for testing routing features: :class:`FakeCall` (a CallContext) and :class:`FakeEnv`
(a RoutingEnv). Shared by every routing test; owned by the dial-plan runtime ("flow").

FakeCall
--------
- Dial outcomes are scripted per target: ``call.script_dial("101", DialStatus.NO_ANSWER,
  DialStatus.ANSWERED)`` makes each dial that includes ``101`` take the next outcome; the
  last one repeats. A target never scripted gets ``default_dial`` (NO_ANSWER). An outcome
  may also be :data:`HANGS_UP` (the caller hangs up while it rings: the dial raises
  CallerHungUp) or a :class:`Leg` (a status with talk time). A dial's result sums its
  targets as DialResult says: answered if any answered (the first in order took the call),
  else busy, else no answer, else unreachable, rejected, failed.
- Keys are scripted: ``call.press("1")``, ``call.press("101#")`` (one key per character)
  and ``call.press(PAUSE)`` (the caller presses nothing: one ``collect_digits`` times out).
  ``play(..., interrupt_on=...)`` returns the next key when it is one of ``interrupt_on``
  (else the key stays queued: type-ahead, as LiveCall does); ``collect_digits`` takes keys
  until the terminator, ``max_digits``, or a PAUSE / no more keys (the timeout).
- Everything is recorded: :attr:`verbs` (every verb in order with its arguments), and by
  kind :attr:`dials`, :attr:`plays`, :attr:`notes`, :attr:`rows` (each extension's last
  status and answered_by), :attr:`status_log`, :attr:`rejected`, :attr:`hung_up`.
  :meth:`steps` renders the notes like resolve's Step strings.
- As on a live call: media verbs need an answered call (RuntimeError otherwise); once the
  call has ended (hangup, reject, the caller hanging up) every verb but note/status_for
  raises CallerHungUp; verbs that last as long as the call (music_on_hold, echo,
  join_conference) end by raising CallerHungUp. ``hang_up_during("play", 2)`` makes the
  caller hang up during the second play. ``reject(status)`` is the proposed verb for
  refusing an unanswered call with a final response.

FakeEnv
-------
Plain attributes tests set: ``clock`` (the aware instant :meth:`now` returns),
``provisioned``, ``registered``, ``busy``, ``in_dnd``, ``overrides`` (forwarding set from
the phone), ``company``, ``names``, ``media_dir``; voicemail boxes are kept in memory
(:attr:`boxes`) and e-mails in :attr:`emails`. By default every extension of the plan is
provisioned and registered, and the company number is the plan's first virtual number.

Also: :class:`FakeFeatures` (stand-in IVR / voicemail / conference features for tests of
:mod:`centralita.routing.flow`), :func:`acme_plan` (the issue's example plan) and
:func:`dial_plan` (a plan from YAML-shaped sections).
"""

from __future__ import annotations

import dataclasses
import wave
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from centralita.config import load_tenants
from centralita.config.dialplan import (
    ConferenceConfig,
    DestinationModel,
    DialPlan,
    IvrConfig,
    ToVoicemail,
)
from centralita.routing.context import (
    CallContext,
    CallerHungUp,
    DialResult,
    DialStatus,
    DialTarget,
    Playable,
    Recording,
    RoomFull,
)
from centralita.routing.env import RoutingEnv
from centralita.routing.flow import Features, Goto
from centralita.store.voicemail import VoicemailMessage

ACME = Path(__file__).parents[1] / "vectors" / "config" / "dialplan_acme.yaml"
PAUSE = ""  # a scripted "key" meaning: the caller presses nothing (one timeout)
DEFAULT_NOW = datetime(2026, 12, 22, 9, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Madrid

_SUMMARY_ORDER = (
    DialStatus.ANSWERED,
    DialStatus.BUSY,
    DialStatus.NO_ANSWER,
    DialStatus.UNREACHABLE,
    DialStatus.REJECTED,
    DialStatus.FAILED,
)


class _HangsUp:
    def __repr__(self) -> str:
        return "HANGS_UP"


HANGS_UP = _HangsUp()  # a dial outcome: the caller hangs up while the targets ring


@dataclass(frozen=True, slots=True)
class Leg:
    """A scripted dial outcome with talk time (for answered legs)."""

    status: DialStatus
    talk_seconds: float = 0.0


Outcome = DialStatus | Leg | _HangsUp


@dataclass(frozen=True, slots=True)
class Verb:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Dial:
    targets: tuple[DialTarget, ...]
    timeout: float
    caller_id: str | None
    music: bool
    result: DialResult | None  # None: the caller hung up while it rang

    @property
    def numbers(self) -> list[str]:
        return [target.number for target in self.targets]


def acme_plan() -> DialPlan:
    """The issue's example plan (tests/vectors/config/dialplan_acme.yaml)."""
    return load_tenants(str(ACME)).tenants[0].dial_plan()


def dial_plan(**sections: Any) -> DialPlan:
    """A plan from YAML-shaped sections: ``dial_plan(extensions=[{"number": "101"}], ...)``."""
    return DialPlan.model_validate(sections)


class FakeCall:
    """A CallContext whose far ends are scripted (see the module docstring)."""

    def __init__(
        self,
        *,
        caller: str = "+34600999888",
        caller_name: str = "",
        tenant: str = "acme",
        service: str = "+34910000000",
        language: str = "en",
        answered: bool = False,
        default_dial: DialStatus = DialStatus.NO_ANSWER,
        record_seconds: float = 3.0,
        record_ended_by: str = "dtmf",
        full_rooms: Iterable[str] = (),
    ) -> None:
        self.caller = caller
        self.caller_name = caller_name
        self.tenant = tenant
        self.service = service
        self.language = language
        self.default_dial = default_dial
        self.record_seconds = record_seconds
        self.record_ended_by = record_ended_by
        self.full_rooms = set(full_rooms)
        self.verbs: list[Verb] = []
        self.dials: list[Dial] = []
        self.plays: list[Playable | list[Playable]] = []
        self.notes: list[dict[str, Any]] = []
        self.rows: dict[str, tuple[str, str | None]] = {}
        self.status_log: list[tuple[str, str, str | None]] = []
        self.rejected: int | None = None
        self.hung_up = False
        self.caller_left = False
        self.keys: deque[str] = deque()
        self._answered = answered
        self._scripts: dict[str, list[Outcome]] = {}
        self._hang_ups: dict[str, int] = {}
        self._counts: dict[str, int] = {}

    # ---- scripting ---------------------------------------------------------------------------

    def script_dial(self, target: str, *outcomes: Outcome) -> FakeCall:
        self._scripts.setdefault(target, []).extend(outcomes)
        return self

    def press(self, *keys: str) -> FakeCall:
        for item in keys:
            self.keys.extend(item if item else [PAUSE])
        return self

    def hang_up_during(self, verb: str, nth: int = 1) -> FakeCall:
        """The caller hangs up during the ``nth`` call of ``verb`` (it raises CallerHungUp)."""
        self._hang_ups[verb] = nth
        return self

    # ---- what happened -----------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.hung_up or self.rejected is not None or self.caller_left

    def verb_names(self) -> list[str]:
        return [verb.name for verb in self.verbs]

    def dialled(self) -> list[list[str]]:
        """The numbers of each dial, in order."""
        return [dial.numbers for dial in self.dials]

    def statuses(self) -> dict[str, str]:
        return {extension: row[0] for extension, row in self.rows.items()}

    def steps(self) -> list[str]:
        """The notes that are trace steps, as resolve's Step renders them."""
        return [_step_text(note) for note in self.notes if "node" in note]

    # ---- CallContext -------------------------------------------------------------------------

    @property
    def answered(self) -> bool:
        return self._answered

    async def ring(self) -> None:
        self._enter("ring")

    async def dial(
        self,
        targets: Sequence[DialTarget],
        timeout: float,
        *,
        caller_id: str | None = None,
        music: bool = False,
    ) -> DialResult:
        self._enter(
            "dial", targets=list(targets), timeout=timeout, caller_id=caller_id, music=music
        )
        outcomes = [(target.number, self._next_outcome(target.number)) for target in targets]
        if any(isinstance(outcome, _HangsUp) for _, outcome in outcomes):
            self.dials.append(Dial(tuple(targets), timeout, caller_id, music, None))
            self.caller_left = True
            raise CallerHungUp()
        result = _summary(outcomes)
        self.dials.append(Dial(tuple(targets), timeout, caller_id, music, result))
        if result.status is DialStatus.ANSWERED:
            self._answered = True
        return result

    async def answer(self) -> None:
        self._enter("answer")
        self._answered = True

    async def hangup(self) -> None:
        self.verbs.append(Verb("hangup", {}))
        self.hung_up = True

    async def reject(self, status: int, reason: str | None = None) -> None:
        """Proposed CallContext verb (LiveCall has it): end the unanswered call with the final
        response ``status``."""
        self._enter("reject", status=status, reason=reason)
        if self._answered:
            raise RuntimeError("reject() is for unanswered calls")
        if not 400 <= status <= 699:
            raise ValueError(f"{status} is not a final error response")
        self.rejected = status

    async def play(self, what: Playable | list[Playable], *, interrupt_on: str = "") -> str:
        self._enter("play", what=what, interrupt_on=interrupt_on, media=True)
        self.plays.append(what)
        if interrupt_on and self.keys and self.keys[0] and self.keys[0] in interrupt_on:
            return self.keys.popleft()
        return ""

    async def collect_digits(
        self,
        max_digits: int,
        timeout: float,
        *,
        terminator: str = "#",
        first_digit: str = "",
        inter_digit_timeout: float | None = None,
    ) -> str:
        self._enter(
            "collect_digits",
            max_digits=max_digits,
            timeout=timeout,
            terminator=terminator,
            first_digit=first_digit,
            inter_digit_timeout=inter_digit_timeout,
            media=True,
        )
        if terminator and first_digit == terminator:
            return ""
        digits = first_digit
        while len(digits) < max_digits:
            if not self.keys or self.keys[0] == PAUSE:
                if self.keys:
                    self.keys.popleft()
                break
            key = self.keys.popleft()
            if key == terminator:
                break
            digits += key
        return digits

    async def say_number(self, number: int, language: str | None = None) -> str:
        self._enter("say_number", number=number, language=language, media=True)
        return ""

    async def record(
        self, path: Path, *, max_seconds: float, silence_seconds: float, beep: bool = True
    ) -> Recording:
        self._enter(
            "record",
            path=path,
            max_seconds=max_seconds,
            silence_seconds=silence_seconds,
            beep=beep,
            media=True,
        )
        seconds = min(self.record_seconds, max_seconds)
        _write_silence(path, seconds)
        return Recording(path, seconds, self.record_ended_by)

    async def music_on_hold(self, music_class: str = "default") -> None:
        self._enter("music_on_hold", music_class=music_class, media=True)
        self._until_caller_leaves()

    async def echo(self) -> None:
        self._enter("echo", media=True)
        self._until_caller_leaves()

    async def join_conference(
        self,
        room: str,
        *,
        muted: bool = False,
        moderator: bool = False,
        max_members: int | None = None,
        join_tones: bool = True,
        muted_until_moderator: bool = False,
        record: Path | None = None,
    ) -> None:
        self._enter(
            "join_conference",
            room=room,
            muted=muted,
            moderator=moderator,
            max_members=max_members,
            join_tones=join_tones,
            muted_until_moderator=muted_until_moderator,
            record=record,
            media=True,
        )
        if room in self.full_rooms:
            raise RoomFull(room)
        self._until_caller_leaves()

    def status_for(self, extension: str, status: str, answered_by: str | None = None) -> None:
        self.verbs.append(Verb("status_for", {"extension": extension, "status": status}))
        self.rows[extension] = (str(status), answered_by)
        self.status_log.append((extension, str(status), answered_by))

    def note(self, **fields: Any) -> None:
        self.verbs.append(Verb("note", dict(fields)))
        self.notes.append(dict(fields))

    # ---- internals ---------------------------------------------------------------------------

    def _enter(self, name: str, *, media: bool = False, **args: Any) -> None:
        self.verbs.append(Verb(name, args))
        if self.ended:
            raise CallerHungUp()
        if media and not self._answered:
            raise RuntimeError(f"{name}: answer() the call before sending it media")
        self._counts[name] = self._counts.get(name, 0) + 1
        if self._hang_ups.get(name) == self._counts[name]:
            self.caller_left = True
            raise CallerHungUp()

    def _next_outcome(self, target: str) -> Outcome:
        script = self._scripts.get(target)
        if not script:
            return self.default_dial
        return script.pop(0) if len(script) > 1 else script[0]

    def _until_caller_leaves(self) -> None:
        self.caller_left = True
        raise CallerHungUp()


def _summary(outcomes: list[tuple[str, Outcome]]) -> DialResult:
    legs = {number: _leg(outcome) for number, outcome in outcomes}
    statuses = {number: leg.status for number, leg in legs.items()}
    for status in _SUMMARY_ORDER:
        first = next((n for n, s in statuses.items() if s is status), None)
        if first is not None:
            if status is DialStatus.ANSWERED:
                return DialResult(status, first, statuses, legs[first].talk_seconds)
            return DialResult(status, None, statuses)
    return DialResult(DialStatus.FAILED, None, statuses)  # no targets at all


def _leg(outcome: Outcome) -> Leg:
    assert not isinstance(outcome, _HangsUp)
    return outcome if isinstance(outcome, Leg) else Leg(outcome)


def _step_text(note: dict[str, Any]) -> str:
    text = str(note["node"])
    if note.get("detail"):
        text += f": {note['detail']}"
    if note.get("then"):
        text += f" → {note['then']}"
    return text


def _write_silence(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(seconds * 8000))


class FakeEnv:
    """A RoutingEnv over plain attributes (see the module docstring)."""

    def __init__(
        self,
        plan: DialPlan | None = None,
        *,
        now: datetime = DEFAULT_NOW,
        provisioned: Iterable[str] | None = None,
        registered: Iterable[str] | None = None,
        busy: Iterable[str] = (),
        dnd: Iterable[str] = (),
        overrides: dict[str, str] | None = None,
        company: str | None = None,
        names: dict[str, str] | None = None,
        media_dir: Path = Path("media"),
        tenant_id: int = 1,
        tenant_name: str = "acme",
        domain: str = "acme.test",
    ) -> None:
        self.plan = plan if plan is not None else DialPlan()
        self.tenant_id = tenant_id
        self.tenant_name = tenant_name
        self.domain = domain
        if now.tzinfo is None:
            raise ValueError("FakeEnv needs an aware instant")
        self.clock = now
        numbers = [ext.number for ext in self.plan.extensions]
        self.provisioned = set(numbers if provisioned is None else provisioned)
        self.registered = set(self.provisioned if registered is None else registered)
        self.busy = set(busy)
        self.in_dnd = set(dnd)
        self.overrides = dict(overrides or {})
        first = self.plan.numbers[0].number if self.plan.numbers else None
        self.company = company if company is not None else first
        self.names = dict(names or {})
        self.media_dir = media_dir
        self.boxes: dict[str, list[VoicemailMessage]] = {}
        self.emails: list[tuple[VoicemailMessage, list[str]]] = []
        self.changes: list[tuple[str, str, object]] = []  # ("dnd" | "forward", number, value)

    def now(self) -> datetime:
        return self.clock

    def extension_exists(self, number: str) -> bool:
        return number in self.provisioned

    def extension_name(self, number: str) -> str:
        return self.names.get(number, "")

    def is_registered(self, number: str) -> bool:
        return number in self.registered

    def is_busy(self, number: str) -> bool:
        return number in self.busy

    def dnd(self, number: str) -> bool:
        return number in self.in_dnd

    async def set_dnd(self, number: str, on: bool) -> None:
        self.changes.append(("dnd", number, on))
        (self.in_dnd.add if on else self.in_dnd.discard)(number)

    def forward_override(self, number: str) -> str | None:
        return self.overrides.get(number)

    async def set_forward_override(self, number: str, target: str | None) -> None:
        self.changes.append(("forward", number, target))
        if target is None:
            self.overrides.pop(number, None)
        else:
            self.overrides[number] = target

    def company_number(self) -> str | None:
        return self.company

    def media_path(self, relative: str) -> Path:
        root = self.media_dir.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"{relative!r} is outside the tenant's media folder")
        return path

    def recording_path(self, kind: str, name: str) -> Path:
        return self.media_dir / "recordings" / kind / f"{name}.wav"

    async def voicemail_filed(
        self, box: str, recording: Path, *, caller: str, caller_name: str, duration: float
    ) -> VoicemailMessage:
        messages = self.boxes.setdefault(box, [])
        message = VoicemailMessage(
            id=f"{box}-{len(messages) + 1}",
            tenant_id=self.tenant_id,
            box=box,
            caller=caller,
            received_at=self.clock,
            duration=duration,
            path=str(recording),
            caller_name=caller_name or None,
        )
        messages.append(message)
        return message

    async def voicemail_messages(self, box: str) -> list[VoicemailMessage]:
        return [m for m in self.boxes.get(box, []) if not m.deleted]

    async def voicemail_mark_heard(self, message_id: str) -> None:
        self._update(message_id, heard=True)

    async def voicemail_delete(self, message_id: str) -> None:
        self._update(message_id, deleted=True)

    async def email_voicemail(self, message: VoicemailMessage, recipients: list[str]) -> None:
        self.emails.append((message, list(recipients)))

    def _update(self, message_id: str, **changes: Any) -> None:
        for messages in self.boxes.values():
            for i, message in enumerate(messages):
                if message.id == message_id:
                    messages[i] = dataclasses.replace(message, **changes)
                    return
        raise KeyError(message_id)


class FakeFeatures:
    """Stand-ins for the IVR, voicemail and conference features, for tests of the walk.
    Each visit is recorded in :attr:`visits` (``("ivr", "main")``, ``("voicemail", "101")``);
    ``ivr_choices[name]`` lists, visit by visit, where the menu sends the call (None: it
    ends the call itself; a missing or exhausted list: its ``after_loops``)."""

    def __init__(self, ivr_choices: dict[str, list[DestinationModel | None]] | None = None) -> None:
        self.visits: list[tuple[str, str]] = []
        self.ivr_choices = {name: list(c) for name, c in (ivr_choices or {}).items()}

    def features(self) -> Features:
        return Features(ivr=self.ivr, voicemail=self.voicemail, conference=self.conference)

    async def ivr(self, call: CallContext, env: RoutingEnv, ivr: IvrConfig, goto: Goto) -> None:
        self.visits.append(("ivr", ivr.name))
        choices = self.ivr_choices.get(ivr.name)
        choice = choices.pop(0) if choices else ivr.after_loops
        if choice is not None:
            await goto(choice)

    async def voicemail(self, call: CallContext, env: RoutingEnv, box: ToVoicemail) -> None:
        self.visits.append(("voicemail", box.voicemail))

    async def conference(self, call: CallContext, env: RoutingEnv, room: ConferenceConfig) -> None:
        self.visits.append(("conference", room.name))


def conforms(call: FakeCall, env: FakeEnv) -> tuple[CallContext, RoutingEnv]:
    """Never called: mypy checks here that the fakes implement the protocols."""
    return call, env
