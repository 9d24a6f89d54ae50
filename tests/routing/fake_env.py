"""FakeEnv (a RoutingEnv over plain attributes) and FakeFeatures, for the routing tests;
imported through :mod:`tests.routing.fakes`, whose docstring describes them."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from centralita.config.dialplan import (
    ConferenceConfig,
    DestinationModel,
    DialPlan,
    IvrConfig,
    ToVoicemail,
)
from centralita.routing.context import (
    CallContext,
)
from centralita.routing.env import RoutingEnv
from centralita.routing.flow import Features, Goto
from centralita.store.voicemail import VoicemailMessage


@dataclass(frozen=True, slots=True)
class Verb:
    name: str
    args: dict[str, Any]


DEFAULT_NOW = datetime(2026, 12, 22, 9, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Madrid


def write_silence(path: Path, seconds: float) -> None:
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
        recordings_dir: Path | None = None,
        tenant_id: int = 1,
        tenant_name: str = "acme",
        domain: str = "acme.test",
        journal: list[Verb] | None = None,
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
        self.recordings_dir = recordings_dir
        self.boxes: dict[str, list[VoicemailMessage]] = {}
        self.emails: list[tuple[VoicemailMessage, list[str]]] = []
        self.email_error: Exception | None = None
        self.release_email: asyncio.Event | None = None
        # ("dnd" | "forward", number, value), ("filed", message id, box), ("heard" |
        # "deleted", message id, True)
        self.changes: list[tuple[str, str, object]] = []
        self.journal: list[Verb] = journal if journal is not None else []

    @property
    def messages(self) -> dict[str, VoicemailMessage]:
        """Every voicemail message of every box (deleted ones too), by id."""
        return {m.id: m for messages in self.boxes.values() for m in messages}

    def add_voicemail(
        self, box: str, seconds: float, *, heard: bool = False, caller: str = "+34600111222"
    ) -> VoicemailMessage:
        """A message already in ``box``: ``seconds`` of silence in the box's folder."""
        messages = self.boxes.setdefault(box, [])
        message_id = f"{box}-{len(messages) + 1}"
        path = self.media_dir / "boxes" / box / f"{message_id}.wav"
        write_silence(path, seconds)
        message = VoicemailMessage(
            id=message_id,
            tenant_id=self.tenant_id,
            box=box,
            caller=caller,
            received_at=self.clock,
            duration=seconds,
            path=str(path),
            heard=heard,
        )
        messages.append(message)
        return message

    def now(self) -> datetime:
        self._asked("now")
        return self.clock

    def extension_exists(self, number: str) -> bool:
        self._asked("extension_exists", number=number)
        return number in self.provisioned

    def extension_name(self, number: str) -> str:
        self._asked("extension_name", number=number)
        return self.names.get(number, "")

    def is_registered(self, number: str) -> bool:
        self._asked("is_registered", number=number)
        return number in self.registered

    def is_busy(self, number: str) -> bool:
        self._asked("is_busy", number=number)
        return number in self.busy

    def dnd(self, number: str) -> bool:
        self._asked("dnd", number=number)
        return number in self.in_dnd

    async def set_dnd(self, number: str, on: bool) -> None:
        self._asked("set_dnd", number=number, on=on)
        self.changes.append(("dnd", number, on))
        (self.in_dnd.add if on else self.in_dnd.discard)(number)

    def forward_override(self, number: str) -> str | None:
        self._asked("forward_override", number=number)
        return self.overrides.get(number)

    async def set_forward_override(self, number: str, target: str | None) -> None:
        self._asked("set_forward_override", number=number, target=target)
        self.changes.append(("forward", number, target))
        if target is None:
            self.overrides.pop(number, None)
        else:
            self.overrides[number] = target

    def company_number(self) -> str | None:
        self._asked("company_number")
        return self.company

    def media_path(self, relative: str) -> Path:
        self._asked("media_path", relative=relative)
        root = self.media_dir.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"{relative!r} is outside the tenant's media folder")
        return path

    def recording_path(self, kind: str, name: str) -> Path:
        self._asked("recording_path", kind=kind, name=name)
        folder = self.recordings_dir or self.media_dir / "recordings"
        return folder / kind / (name if Path(name).suffix == ".wav" else f"{name}.wav")

    async def voicemail_filed(
        self, box: str, recording: Path, *, caller: str, caller_name: str, duration: float
    ) -> VoicemailMessage:
        """As the PBX files it: the recording is moved into the box's folder."""
        self._asked(
            "voicemail_filed",
            box=box,
            recording=recording,
            caller=caller,
            caller_name=caller_name,
            duration=duration,
        )
        message = self.add_voicemail(box, 0.0, caller=caller)
        shutil.move(recording, message.path)
        filed = dataclasses.replace(message, duration=duration, caller_name=caller_name or None)
        self.boxes[box][-1] = filed
        self.changes.append(("filed", filed.id, box))
        return filed

    async def voicemail_messages(self, box: str) -> list[VoicemailMessage]:
        self._asked("voicemail_messages", box=box)
        return [m for m in self.boxes.get(box, []) if not m.deleted]

    async def voicemail_mark_heard(self, message_id: str) -> None:
        self._asked("voicemail_mark_heard", message_id=message_id)
        self._update(message_id, heard=True)
        self.changes.append(("heard", message_id, True))

    async def voicemail_delete(self, message_id: str) -> None:
        self._asked("voicemail_delete", message_id=message_id)
        self._update(message_id, deleted=True)
        self.changes.append(("deleted", message_id, True))

    async def email_voicemail(self, message: VoicemailMessage, recipients: list[str]) -> None:
        self._asked("email_voicemail", message=message, recipients=recipients)
        if self.release_email is not None:
            await self.release_email.wait()
        self.emails.append((message, list(recipients)))
        if self.email_error is not None:
            raise self.email_error

    def _asked(self, verb: str, /, **args: Any) -> None:
        self.journal.append(Verb(verb, args))

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
