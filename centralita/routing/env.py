"""What routing features may ask of the PBX besides the call itself: the tenant's dial plan,
who is registered, busy or in do-not-disturb, the clock schedules are read on, voicemail
storage and notification. Features see this protocol only; the server implements it
(:mod:`centralita.routing.runtime`) and tests implement it with fakes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

from centralita.config.dialplan import DialPlan
from centralita.store.voicemail import VoicemailMessage


class RoutingEnv(Protocol):
    plan: DialPlan  # the tenant's dial plan
    tenant_id: int
    tenant_name: str
    domain: str

    def now(self) -> datetime:
        """The current instant (aware). Schedules are read on it; tests and ``serve
        --pretend-time`` move it."""
        ...

    def extension_exists(self, number: str) -> bool: ...

    def extension_name(self, number: str) -> str:
        """The display name ("" when none)."""
        ...

    def is_registered(self, number: str) -> bool:
        """The extension has at least one live binding."""
        ...

    def is_busy(self, number: str) -> bool:
        """The extension is in a call (ringing calls included)."""
        ...

    def dnd(self, number: str) -> bool:
        """Do-not-disturb is on for the extension."""
        ...

    async def set_dnd(self, number: str, on: bool) -> None: ...

    def forward_override(self, number: str) -> str | None:
        """An unconditional forward set from the phone (feature code): an extension number
        or an E.164 number; it wins over the configured forwarding."""
        ...

    async def set_forward_override(self, number: str, target: str | None) -> None: ...

    def company_number(self) -> str | None:
        """The number external parties see for calls the tenant places or forwards (never a
        user's mobile): the tenant's first virtual number."""
        ...

    def media_path(self, relative: str) -> Path:
        """An uploaded file of the tenant (Greeting.file), checked to stay inside its folder."""
        ...

    def recording_path(self, kind: str, name: str) -> Path:
        """Where a recording of ``kind`` ("conference", "greeting", "voicemail") goes."""
        ...

    async def voicemail_filed(
        self, box: str, recording: Path, *, caller: str, caller_name: str, duration: float
    ) -> VoicemailMessage:
        """File a recorded message in ``box`` (moves the WAV, writes the row), then update
        message-waiting indication of the box's subscribers."""
        ...

    async def voicemail_messages(self, box: str) -> list[VoicemailMessage]:
        """The box's messages not deleted, oldest first."""
        ...

    async def voicemail_mark_heard(self, message_id: str) -> None: ...

    async def voicemail_delete(self, message_id: str) -> None: ...

    async def email_voicemail(self, message: VoicemailMessage, recipients: list[str]) -> None:
        """Send the message's WAV by e-mail (SMTP, with retries); failures are logged."""
        ...
