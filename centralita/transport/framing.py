"""Sans-I/O framing of a SIP byte stream (TCP, TLS) into whole messages.

Theory of operation (RFC 3261 §18.3, §7.5; RFC 5626 §3.5.1, §4.4.1):
on a stream the message boundary is where the header block ends (the first CRLFCRLF) plus the
``Content-Length`` octets of body, and on a stream that header is mandatory. Between messages
the framer sits in the GAP state: a stray CRLF there is ignored (RFC 3261 §7.5), and a double
CRLF is an RFC 5626 keep-alive "ping" that the owner of the stream must answer with a single
CRLF "pong". Anything else starts a message: the framer moves to HEADERS until CRLFCRLF, then
to BODY until Content-Length octets have arrived, then emits the message and returns to GAP.
The framer never parses more of SIP than that; a stream whose framing is broken cannot be
resynchronised, so every framing error is final.
"""

from __future__ import annotations

import enum
import re

DEFAULT_MAX_HEADER_SIZE = 64 * 1024
DEFAULT_MAX_BODY_SIZE = 1024 * 1024

_CRLF = b"\r\n"
_HEADER_END = b"\r\n\r\n"
# RFC 3261 §7.3.1: a header line continues on lines that start with whitespace (folding).
_FOLD = re.compile(rb"\r\n[ \t]+")
# RFC 3261 §20.14 / §7.3.3: "Content-Length" or compact "l", any case, HCOLON = *WSP ":" SWS.
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*$", re.IGNORECASE)


class FramingError(ValueError):
    """The stream cannot be framed into SIP messages; the connection must be closed.

    ``messages`` holds the complete messages that preceded the error in the same ``feed``."""

    def __init__(self, reason: str, messages: list[bytes] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.messages = messages or []


class _State(enum.Enum):
    GAP = enum.auto()
    HEADERS = enum.auto()
    BODY = enum.auto()
    BROKEN = enum.auto()


class StreamFramer:
    """Feed it the bytes of one connection in any chunking; it returns whole messages."""

    def __init__(
        self,
        *,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self._max_header_size = max_header_size
        self._max_body_size = max_body_size
        self._state = _State.GAP
        self._buffer = bytearray()
        self._scan_from = 0  # where the CRLFCRLF search resumes in HEADERS
        self._message_size = 0  # header block + body, known in BODY
        self._gap_lfs = 0  # line feeds seen in the current gap
        self._pings = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the messages it completed. Raises ``FramingError``."""
        if self._state is _State.BROKEN:
            raise FramingError("stream already failed framing")
        self._buffer += data
        messages: list[bytes] = []
        try:
            while self._step(messages):
                pass
        except FramingError as exc:
            self._state = _State.BROKEN
            self._buffer.clear()
            raise FramingError(exc.reason, messages) from None
        return messages

    def pop_pings(self) -> int:
        """Keep-alive pings seen since the last call; answer each with one CRLF pong."""
        pings, self._pings = self._pings, 0
        return pings

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buffer)

    def _step(self, messages: list[bytes]) -> bool:
        if self._state is _State.GAP:
            return self._skip_gap()
        if self._state is _State.HEADERS:
            return self._find_header_end()
        return self._take_body(messages)

    def _skip_gap(self) -> bool:
        index = 0
        buffer = self._buffer
        while index < len(buffer) and buffer[index] in b"\r\n":
            if buffer[index] == 0x0A:
                self._gap_lfs += 1
                # RFC 5626 §4.4.1: CRLFCRLF between messages is a ping; a lone CRLF is
                # ignored (RFC 3261 §7.5).
                if self._gap_lfs == 2:
                    self._pings += 1
                    self._gap_lfs = 0
            index += 1
        del buffer[:index]
        if not buffer:
            return False
        self._gap_lfs = 0
        self._state = _State.HEADERS
        self._scan_from = 0
        return True

    def _find_header_end(self) -> bool:
        end = self._buffer.find(_HEADER_END, self._scan_from)
        if end < 0:
            if len(self._buffer) > self._max_header_size:
                raise FramingError(f"header block larger than {self._max_header_size} bytes")
            self._scan_from = max(0, len(self._buffer) - len(_HEADER_END) + 1)
            return False
        header_size = end + len(_HEADER_END)
        if header_size > self._max_header_size:
            raise FramingError(f"header block larger than {self._max_header_size} bytes")
        body_size = self._content_length(bytes(self._buffer[:end]))
        self._message_size = header_size + body_size
        self._state = _State.BODY
        return True

    def _take_body(self, messages: list[bytes]) -> bool:
        if len(self._buffer) < self._message_size:
            return False
        messages.append(bytes(self._buffer[: self._message_size]))
        del self._buffer[: self._message_size]
        self._state = _State.GAP
        return True

    def _content_length(self, header_block: bytes) -> int:
        lines = _FOLD.sub(b" ", header_block).split(_CRLF)[1:]  # skip the start line
        values = {m.group(1) for line in lines if (m := _CONTENT_LENGTH.match(line))}
        if not values:
            # RFC 3261 §18.3: a message on a stream transport MUST carry Content-Length.
            raise FramingError("message without Content-Length on a stream")
        if len(values) > 1:
            raise FramingError("conflicting Content-Length headers")
        value = values.pop()
        if not value.isdigit() or len(value) > 10:
            raise FramingError(f"invalid Content-Length {value[:20]!r}")
        length = int(value)
        if length > self._max_body_size:
            raise FramingError(f"Content-Length {length} above the {self._max_body_size} limit")
        return length
