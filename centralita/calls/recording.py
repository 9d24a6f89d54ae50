"""Whole-call recording as the B2BUA sees it: whether to record, where, and what each leg sends.

A bridged call is recorded when the caller's or the callee's extension has ``record_calls``
on. The recording runs from the answer to the end of the call, in the media session (the relay
taps both legs, :mod:`centralita.media.recording`); the call only names the file and keeps the
session told which codec each payload type of each leg is. Those come from the SDP crossing
the call: a phone sends with the payload type numbers of the SDP it *received* from us (an SDP
lists the formats its sender is willing to receive, RFC 3264 §5.1; the answerer keeps the
offer's numbers, §6.1), so for each side the numbers we announced to it win over those it
announced itself.

Sans-I/O: no file is touched here; the date of the path comes from ``now`` (epoch seconds).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from centralita.calls.media import MediaSession, Side
from centralita.sip import sdp

Formats = Mapping[int, str]  # RTP payload type -> rtpmap value ("PCMA/8000")

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")
_MAX_NAME = 120


@runtime_checkable
class RecordingSession(MediaSession, Protocol):
    """A media session that can record the call (the relay's, through the server's view)."""

    def start_recording(self, path: Path, formats: Mapping[Side, Formats]) -> bool:
        """Start writing ``path`` now; False when it could not (the error is logged)."""
        ...

    def set_recording_formats(self, side: Side, formats: Formats) -> None: ...


def recording_path(root: Path, tenant: str, call_id: str, now: float) -> Path:
    """``root/<tenant>/<YYYY-MM-DD>/<call-id>.wav`` (UTC date of ``now``). A Call-ID may
    hold any of RFC 3261 §25.1 ``word`` characters, "/" and ".." included: anything but a
    plain file-name character is replaced, and a hash of the real Call-ID then keeps two
    different Call-IDs from sharing a file."""
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    return root / _safe(tenant) / day / f"{_safe(call_id)}.wav"


def _safe(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name)[:_MAX_NAME].lstrip(".") or "_"
    if cleaned == name:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{cleaned}-{digest}"


def sdp_formats(body: bytes) -> dict[int, str]:
    """Payload type -> rtpmap value of the first audio stream in use of an SDP body
    (telephone-event left out; nothing for a body that does not parse)."""
    try:
        description = sdp.SessionDescription.parse(body)
    except sdp.SdpError:
        return {}
    for media in description.media:
        if media.media == "audio" and media.port != 0:
            return {
                pt.number: _spec(pt) for pt in media.payload_types() if not pt.is_telephone_event
            }
    return {}


def _spec(pt: sdp.PayloadType) -> str:
    channels = f"/{pt.channels}" if pt.channels != 1 else ""
    return f"{pt.encoding}/{pt.clock_rate}{channels}"


@dataclass(slots=True)
class CallRecording:
    """One call's recording: the formats learned so far, and the file once started."""

    root: Path
    path: Path | None = None  # set when the recording started
    session: RecordingSession | None = None
    _announced_by: dict[Side, dict[int, str]] = field(default_factory=dict)
    _announced_to: dict[Side, dict[int, str]] = field(default_factory=dict)

    def formats(self, side: Side) -> dict[int, str]:
        """What the packets ``side`` sends to us are, by payload type."""
        return {**self._announced_by.get(side, {}), **self._announced_to.get(side, {})}

    def learn(self, source: Side, body: bytes, relayed: bytes) -> None:
        """An SDP ``body`` from ``source`` went on to the other side as ``relayed``."""
        if body:
            self._announced_by[source] = sdp_formats(body)
        if relayed:
            self._announced_to[source.other] = sdp_formats(relayed)
        if self.session is not None:
            for side in Side:
                self.session.set_recording_formats(side, self.formats(side))

    def start(self, session: MediaSession, tenant: str, call_id: str, now: float) -> bool:
        """Ask ``session`` to record from now on; whether it does."""
        if self.path is not None or not isinstance(session, RecordingSession):
            return False
        path = recording_path(self.root, tenant, call_id, now)
        if not session.start_recording(path, {side: self.formats(side) for side in Side}):
            return False
        self.path, self.session = path, session
        return True

    @property
    def link(self) -> str | None:
        """What the call log keeps: the file's path, when there is one."""
        return None if self.path is None else str(self.path)
