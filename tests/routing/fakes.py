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
- Keys are scripted: ``call.press("1")``, ``call.press("101#")`` (one key per character;
  :data:`TIMEOUT` ``","`` in a string, or :data:`PAUSE` on its own, is a pause: one wait for a
  key times out; :data:`FINISH` ``"~"`` lets the next interruptible prompt play to its end).
  Pressed keys are queued (type-ahead, as LiveCall does): ``play(..., interrupt_on=...)``
  returns the first queued key when it is one of ``interrupt_on`` (else it stays queued);
  ``collect_digits`` takes keys until the terminator, ``max_digits``, or a pause.
  Keys may also come at given moments: ``press_during("welcome", "1", "", None)`` presses
  ``1`` during the first playback of prompt (or file name) ``welcome``, nothing during the
  second, and hangs up during the third (:data:`RECORDING` names a file this call recorded,
  played back); ``press_when_asked("2", "", None)`` presses ``2`` the first time
  ``collect_digits`` waits with no key queued, nothing the second time (it times out), and
  hangs up the third. Once these run out a wait times out, or with
  ``hangs_up_when_out_of_keys=True`` the caller hangs up.
- Recordings are scripted: ``call.script_recording(Take(4.2, "dtmf"), Take(ended_by=
  "hangup"))``; each ``record`` writes its take to the path (``audio`` bytes, or that many
  seconds of silence as a WAV) and returns it; a take ended by ``"hangup"`` ends the call.
  Without takes, ``record`` writes ``record_seconds`` of silence ended by
  ``record_ended_by``.
- Optional checks of what is played: ``known_prompts`` (prompt names that exist) and
  ``check_files`` (a file played must exist); either fails with AssertionError.
- Everything is recorded: :attr:`verbs` (every verb in order with its arguments; :meth:`calls`
  gives one verb's), and by kind :attr:`dials`, :attr:`plays`, :attr:`played` (one
  :class:`Playback` per item played, with the key that interrupted it and a file's bytes as
  they were then), :attr:`waited` (the timeout of each wait for a key), :attr:`transcript`
  (what the caller went through, one line a verb: ``"play a,b"``, ``"keys 1234"``,
  ``"record dtmf"``, ...), :attr:`notes`, :attr:`rows` (each extension's last status and
  answered_by), :attr:`status_log`, :attr:`rejected`, :attr:`hung_up`. :meth:`steps`
  renders the notes like resolve's Step strings.
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
the phone), ``company``, ``names``, ``media_dir`` (and ``recordings_dir``, by default
``media_dir/recordings``); voicemail boxes are kept in memory (:attr:`boxes`; a filed
recording is moved to ``media_dir/boxes/<box>/<id>.wav``, :meth:`add_voicemail` puts one
there beforehand) and e-mails in :attr:`emails` (``email_error`` makes sending fail after
it is written down; ``release_email``, an asyncio.Event, holds it until set). What changed
is in :attr:`changes`, and every RoutingEnv method called, with its arguments, in
:attr:`journal` (pass ``journal=call.verbs`` to see it in order with the call's verbs). By
default every extension of the plan is provisioned and registered, and the company number
is the plan's first virtual number.

Also: :class:`FakeFeatures` (stand-in IVR / voicemail / conference features for tests of
:mod:`centralita.routing.flow`), :func:`acme_plan` (the issue's example plan) and
:func:`dial_plan` (a plan from YAML-shaped sections).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from centralita.config import load_tenants
from centralita.config.dialplan import (
    DialPlan,
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
from tests.routing.fake_env import DEFAULT_NOW, FakeEnv, FakeFeatures, Verb, write_silence

__all__ = ["DEFAULT_NOW", "FakeCall", "FakeEnv", "FakeFeatures", "Verb"]

ACME = Path(__file__).parents[1] / "vectors" / "config" / "dialplan_acme.yaml"
PAUSE = ""  # a scripted "key" meaning: the caller presses nothing (one timeout)
TIMEOUT = ","  # the same pause, inside a string of keys
FINISH = "~"  # a scripted "key": the next interruptible prompt plays to its end
RECORDING = "<recording>"  # for press_during: a file this call recorded, played back

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
class Take:
    """A scripted recording: what ``record`` writes and how it ended."""

    seconds: float = 3.0
    ended_by: str = "dtmf"
    audio: bytes | None = None  # the file's bytes; None: ``seconds`` of silence as a WAV


@dataclass(frozen=True, slots=True)
class Playback:
    """One item of a ``play``: ``label`` is a prompt's name, a file's name or "samples";
    ``content`` a file's bytes as they were when played (None if not a readable file)."""

    what: Playable
    label: str
    interrupted_by: str
    content: bytes | None


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
        hangs_up_when_out_of_keys: bool = False,
        known_prompts: Collection[str] | None = None,
        check_files: bool = False,
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
        self.known_prompts = known_prompts
        self.check_files = check_files
        self.verbs: list[Verb] = []
        self.dials: list[Dial] = []
        self.plays: list[Playable | list[Playable]] = []
        self.played: list[Playback] = []
        self.waited: list[float] = []
        self.transcript: list[str] = []
        self.notes: list[dict[str, Any]] = []
        self.rows: dict[str, tuple[str, str | None]] = {}
        self.status_log: list[tuple[str, str, str | None]] = []
        self.rejected: int | None = None
        self.hung_up = False
        self.caller_left = False
        self.keys: deque[str] = deque()
        self.waits: list[str | None] = []  # what press_when_asked scripted, still to come
        self._silence: str | None = None if hangs_up_when_out_of_keys else ""
        self._during: dict[str, list[str | None]] = {}
        self._takes: deque[Take] = deque()
        self._recorded: set[Path] = set()
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
            self.keys.extend(_keys(item) if item else [PAUSE])
        return self

    def press_during(self, label: str, *presses: str | None) -> FakeCall:
        """Keys pressed during each playback of ``label`` ("" none; None: hangs up)."""
        self._during.setdefault(label, []).extend(presses)
        return self

    def press_when_asked(self, *presses: str | None) -> FakeCall:
        """Keys pressed each time collect_digits waits with none queued ("" none: the wait
        times out; None: the caller hangs up)."""
        self.waits.extend(presses)
        return self

    def script_recording(self, *takes: Take) -> FakeCall:
        self._takes.extend(takes)
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

    def calls(self, name: str) -> list[dict[str, Any]]:
        """The arguments of every call of verb ``name``, in order."""
        return [verb.args for verb in self.verbs if verb.name == name]

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
        self.transcript.append("ring")

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
        self.transcript.append("dial " + ",".join(target.number for target in targets))
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
        self.transcript.append("answer")
        self._answered = True

    async def hangup(self) -> None:
        self.verbs.append(Verb("hangup", {}))
        self.transcript.append("hangup")
        self.hung_up = True

    async def reject(self, status: int, reason: str | None = None) -> None:
        """Proposed CallContext verb (LiveCall has it): end the unanswered call with the final
        response ``status``."""
        self._enter("reject", status=status, reason=reason)
        if self._answered:
            raise RuntimeError("reject() is for unanswered calls")
        if not 400 <= status <= 699:
            raise ValueError(f"{status} is not a final error response")
        self.transcript.append(f"reject {status}")
        self.rejected = status

    async def play(self, what: Playable | list[Playable], *, interrupt_on: str = "") -> str:
        self._enter("play", what=what, interrupt_on=interrupt_on, media=True)
        self.plays.append(what)
        items = what if isinstance(what, list) else [what]
        self.transcript.append("play " + ",".join(self._checked(item) for item in items))
        to_the_end = bool(interrupt_on) and bool(self.keys) and self.keys[0] == FINISH
        if to_the_end:
            self.keys.popleft()
        for item in items:
            label = _label(item)
            self._keys_during(RECORDING if self._recorded_here(item) else label)
            key = "" if to_the_end else self._barge_in(interrupt_on)
            self.played.append(Playback(item, label, key, _content(item)))
            if key:
                return key
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
        wait = timeout if not digits else (inter_digit_timeout or timeout)
        while len(digits) < max_digits:
            key = self._next_key(wait)
            if key is None or key == terminator:
                break
            digits += key
            wait = inter_digit_timeout or timeout
        self.transcript.append(f"keys {digits}")
        return digits

    async def say_number(self, number: int, language: str | None = None) -> str:
        self._enter("say_number", number=number, language=language, media=True)
        self.transcript.append(f"say {number}")
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
        take = (
            self._takes.popleft()
            if self._takes
            else Take(min(self.record_seconds, max_seconds), self.record_ended_by)
        )
        if take.audio is None:
            write_silence(path, take.seconds)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(take.audio)
        self._recorded.add(path)
        self.transcript.append(f"record {take.ended_by}")
        if take.ended_by == "hangup":
            self.caller_left = True
        return Recording(path, take.seconds, take.ended_by)

    async def music_on_hold(self, music_class: str = "default") -> None:
        self._enter("music_on_hold", music_class=music_class, media=True)
        self.transcript.append(f"music {music_class}")
        self._until_caller_leaves()

    async def echo(self) -> None:
        self._enter("echo", media=True)
        self.transcript.append("echo")
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
        self.transcript.append(f"join {room}")
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

    def _checked(self, item: Playable) -> str:
        """How the transcript shows ``item``, once the optional checks have passed."""
        if isinstance(item, str):
            if self.known_prompts is not None and item not in self.known_prompts:
                raise AssertionError(f"no such prompt {item!r}")
            return item
        if isinstance(item, Path):
            if self.check_files and not item.is_file():
                raise AssertionError(f"playing a missing file {item}")
            return f"file:{item.name}"
        return "samples"

    def _recorded_here(self, item: Playable) -> bool:
        return isinstance(item, Path) and item in self._recorded and RECORDING in self._during

    def _keys_during(self, label: str) -> None:
        presses = self._during.get(label)
        self._press(presses.pop(0) if presses else "")

    def _press(self, press: str | None) -> None:
        if press is None:
            self.transcript.append("caller hangs up")
            self._until_caller_leaves()
        else:
            self.keys.extend(_keys(press))

    def _barge_in(self, interrupt_on: str) -> str:
        if interrupt_on and self.keys and self.keys[0] and self.keys[0] in interrupt_on:
            return self.keys.popleft()
        return ""

    def _next_key(self, wait: float) -> str | None:
        """The next key within ``wait`` seconds; None when the wait times out."""
        if not self.keys:
            self.waited.append(wait)
            self._press(self.waits.pop(0) if self.waits else self._silence)
            if not self.keys:
                return None
        key = self.keys.popleft()
        if key == FINISH:
            raise AssertionError("FINISH is scripted where keys are collected, not played")
        if key == PAUSE:
            self.waited.append(wait)
            return None
        return key

    def _until_caller_leaves(self) -> None:
        self.caller_left = True
        raise CallerHungUp()


def _keys(text: str) -> list[str]:
    """A string of scripted keys, one per character, TIMEOUT standing for a PAUSE."""
    return [PAUSE if key == TIMEOUT else key for key in text]


def _label(item: Playable) -> str:
    if isinstance(item, str):
        return item
    return item.name if isinstance(item, Path) else "samples"


def _content(item: Playable) -> bytes | None:
    return item.read_bytes() if isinstance(item, Path) and item.is_file() else None


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


def conforms(call: FakeCall, env: FakeEnv) -> tuple[CallContext, RoutingEnv]:
    """Never called: mypy checks here that the fakes implement the protocols."""
    return call, env
