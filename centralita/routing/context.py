"""What a routing feature may do with a call: the verbs of :class:`CallContext`.

Features (IVR menus, voicemail, conference rooms, the echo test) are ``async def run(call,
cfg)`` functions that only use these verbs: they never see SIP messages, RTP or sockets
(DESIGN.md, "routing"). Every verb raises :class:`CallerHungUp` once the caller has gone,
so a feature unwinds by itself.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from centralita.media.audio import Pcm


class RoomFull(Exception):
    """The conference room has its maximum number of members."""


class CallerHungUp(Exception):
    """The caller hung up (or the call was otherwise ended) while a verb was waiting."""


@dataclass(frozen=True, slots=True)
class Recording:
    path: Path
    duration: float  # seconds of audio kept, trailing silence trimmed
    ended_by: str  # "dtmf" | "silence" | "max_length" | "hangup"


Playable = str | Path | Pcm  # a system prompt name, a WAV file, or samples


@dataclass(frozen=True, slots=True)
class DialTarget:
    """Somebody :meth:`CallContext.dial` rings: an extension's phones (``"101"``) or an
    external number in E.164 (``"+34600111222"``), reached through the tenant's carrier.
    ``confirm``: the answerer must press 1 before the call is put through (so that a
    mobile's own voicemail cannot take it); ``label`` names the leg in the trace (e.g. the
    extension whose simultaneous ring this mobile is)."""

    number: str
    confirm: bool = False
    label: str = ""

    @property
    def external(self) -> bool:
        return self.number.startswith("+")


class DialStatus(enum.StrEnum):
    ANSWERED = "answered"  # somebody answered; dial() returned when the bridged call ended
    BUSY = "busy"  # every target busy (the PBX's own busy state or a 486/600 from the phone)
    NO_ANSWER = "no_answer"  # rang until the timeout
    UNREACHABLE = "unreachable"  # not registered, or no network response (408/480/503, ...)
    REJECTED = "rejected"  # declined by the phone (603)
    FAILED = "failed"  # anything else (no carrier for an external number, 4xx/5xx)


@dataclass(frozen=True, slots=True)
class DialResult:
    """How one :meth:`CallContext.dial` ended. ``status`` sums up every target (answered if
    any answered; else busy if any was busy; else no_answer if any rang; else unreachable /
    rejected / failed); ``targets`` has each target's own status by number."""

    status: DialStatus
    answered_by: str | None = None  # the target number that took the call
    targets: dict[str, DialStatus] = field(default_factory=dict)
    talk_seconds: float = 0.0


class CallContext(Protocol):
    caller: str  # the calling extension or number
    caller_name: str
    tenant: str
    service: str  # what was dialled
    language: str  # "en" | "es" | "ru"

    @property
    def answered(self) -> bool:
        """The PBX has answered the caller (a feature answers before it plays anything;
        :meth:`dial` leaves an unanswered caller unanswered until a target answers)."""
        ...

    async def reject(self, status: int, reason: str | None = None) -> None:
        """Refuse an unanswered caller with a final SIP response (404, 480, 486, 503, ...);
        an answered one is hung up instead."""
        ...

    async def ring(self) -> None:
        """Tell an unanswered caller that it is ringing (180); no-op once answered."""
        ...

    async def dial(
        self,
        targets: Sequence[DialTarget],
        timeout: float,
        *,
        caller_id: str | None = None,
        music: bool = False,
    ) -> DialResult:
        """Ring every target at once for up to ``timeout`` seconds; the first to answer is
        bridged to the caller (an unanswered caller is answered then) and this returns when
        that conversation ends, whichever side hangs up (a caller who hangs up while it
        still rings raises CallerHungUp). Otherwise it returns how the targets failed and
        the caller is as before, free for the next step. While it rings an unanswered
        caller hears ringback (180); an answered one hears ringback tone, or music on hold
        with ``music``. ``caller_id``: the number external targets see (the company's
        number); extensions always see the real caller."""
        ...

    async def answer(self) -> None: ...

    async def hangup(self) -> None: ...

    async def play(self, what: Playable | list[Playable], *, interrupt_on: str = "") -> str:
        """Play to the end; returns the key that interrupted it ("" if none)."""
        ...

    async def collect_digits(
        self,
        max_digits: int,
        timeout: float,
        *,
        terminator: str = "#",
        first_digit: str = "",
        inter_digit_timeout: float | None = None,
    ) -> str: ...

    async def say_number(self, number: int, language: str | None = None) -> str: ...

    async def record(
        self, path: Path, *, max_seconds: float, silence_seconds: float, beep: bool = True
    ) -> Recording: ...

    async def music_on_hold(self, music_class: str = "default") -> None:
        """Play the class's shared stream until the call ends or the task is cancelled."""
        ...

    async def echo(self) -> None:
        """Send the caller's own audio back until the call ends."""
        ...

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
        """Stay in ``room`` until the caller leaves. ``max_members``: a full room raises
        RoomFull before joining. ``muted_until_moderator``: members other than moderators
        are muted while no moderator is in the room. ``record``: the room is recorded (mono
        mix, WAV) to this path from the first member with it to the last one leaving."""
        ...

    def status_for(self, extension: str, status: str, answered_by: str | None = None) -> None:
        """The status of ``extension``'s own row in the call log for this call (DESIGN.md's
        statuses: answered_in, missed, dnd, rejected, forwarded_unanswered, ...); the
        last one set for an extension wins. Extensions never set get no row."""
        ...

    def note(self, **fields: Any) -> None:
        """Add a step to the call's routing trace (DESIGN.md: why the call went where)."""
        ...
