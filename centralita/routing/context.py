"""What a routing feature may do with a call: the verbs of :class:`CallContext`.

Features (IVR menus, voicemail, conference rooms, the echo test) are ``async def run(call,
cfg)`` functions that only use these verbs: they never see SIP messages, RTP or sockets
(DESIGN.md, "routing"). Every verb raises :class:`CallerHungUp` once the caller has gone,
so a feature unwinds by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from centralita.media.audio import Pcm


class CallerHungUp(Exception):
    """The caller hung up (or the call was otherwise ended) while a verb was waiting."""


@dataclass(frozen=True, slots=True)
class Recording:
    path: Path
    duration: float  # seconds of audio kept, trailing silence trimmed
    ended_by: str  # "dtmf" | "silence" | "max_length" | "hangup"


Playable = str | Path | Pcm  # a system prompt name, a WAV file, or samples


class CallContext(Protocol):
    caller: str  # the calling extension or number
    caller_name: str
    tenant: str
    service: str  # what was dialled
    language: str  # "en" | "es" | "ru"

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

    async def join_conference(self, room: str, *, muted: bool = False) -> None:
        """Stay in ``room`` until the caller leaves."""
        ...

    async def echo(self) -> None:
        """Send the caller's own audio back until the call ends."""
        ...

    def note(self, **fields: Any) -> None:
        """Add a step to the call's routing trace (DESIGN.md: why the call went where)."""
        ...
