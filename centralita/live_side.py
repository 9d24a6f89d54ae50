"""The party a live call serves, as its verbs see it: :class:`CallerSide`.

A :class:`~centralita.live.MediaCall` plays, records and collects keys on one RTP endpoint;
what it needs of the party's SIP dialog is this small protocol (ring, answer, reject, hang
up, and where the call record is gathered). :class:`InboundSide` is a caller's INVITE the
PBX answers itself (:class:`~centralita.calls.appcall.AppCall`, the PBX as UAS, RFC 3261
§13.3); ``centralita.originate`` has the other kind, a phone the PBX called (the PBX as UAC).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from centralita.calls.appcall import AppCall, AppCalls
from centralita.records.outcome import ExtensionRow


class CallerSide(Protocol):
    """The signalling of the party a :class:`MediaCall` serves, and where its call record
    is gathered. The commands run inside the sans-I/O driver, with its ``now``."""

    @property
    def call_id(self) -> str: ...

    @property
    def answered(self) -> bool: ...

    @property
    def offer(self) -> bytes:
        """The SDP offer the party's INVITE carried (answered by ``answer``)."""
        ...

    @property
    def trace(self) -> list[dict[str, Any]]: ...

    @property
    def rows(self) -> dict[str, ExtensionRow]: ...

    def media_ip(self) -> str: ...

    def ring(self, now: float) -> None: ...

    def answer(self, body: bytes, now: float) -> bool:
        """Send the final 2xx with ``body``; False when the call ended meanwhile."""
        ...

    def reject(self, status: int, now: float, reason: str | None) -> None: ...

    def hang_up(self, now: float) -> None: ...


class InboundSide:
    """A caller's INVITE the PBX answers itself (RFC 3261 §13.3: the PBX is the UAS)."""

    def __init__(self, call: AppCall, apps: AppCalls, media_ip: Callable[[AppCall], str]) -> None:
        self.call = call
        self.apps = apps
        self._media_ip = media_ip

    @property
    def call_id(self) -> str:
        return self.call.call_id

    @property
    def answered(self) -> bool:
        return self.call.answered_at is not None

    @property
    def offer(self) -> bytes:
        return self.call.offer

    @property
    def trace(self) -> list[dict[str, Any]]:
        return self.call.trace

    @property
    def rows(self) -> dict[str, ExtensionRow]:
        return self.call.rows

    def media_ip(self) -> str:
        return self._media_ip(self.call)

    def ring(self, now: float) -> None:
        self.apps.ring(self.call, now)

    def answer(self, body: bytes, now: float) -> bool:
        return self.apps.answer(self.call, body, now)

    def reject(self, status: int, now: float, reason: str | None) -> None:
        self.apps.reject(self.call, status, now, reason)

    def hang_up(self, now: float) -> None:
        self.apps.hang_up(self.call, now)
