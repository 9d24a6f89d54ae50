"""The ``application/simple-message-summary`` body (RFC 3842 §5).

A NOTIFY of the message-summary event package carries it: a status line, the account it
describes, one count line per message context class and, after an empty line, optional
extension headers::

    Messages-Waiting: yes
    Message-Account: sip:101@acme.test
    Voice-Message: 2/8 (0/2)

Grammar (RFC 3842 §5.2)::

    message-summary  = msg-status-line CRLF [msg-account CRLF] [*(msg-summary-line CRLF)]
                       [ *opt-msg-headers ]
    msg-status-line  = "Messages-Waiting" HCOLON msg-status      ; "yes" / "no"
    msg-account      = "Message-Account" HCOLON Account-URI
    msg-summary-line = message-context-class HCOLON newmsgs SLASH oldmsgs
                       [ LPAREN new-urgentmsgs SLASH old-urgentmsgs RPAREN ]
    opt-msg-headers  = CRLF 1*(extension-header CRLF)

Parsing is strict: anything the grammar does not allow raises :class:`MessageSummaryError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from centralita.sip.errors import SipParseError
from centralita.sip.message import Uri

CONTENT_TYPE = "application/simple-message-summary"

# RFC 3842 §5.2 refers to the message context classes of RFC 3458 §4.
VOICE = "voice-message"
CONTEXT_CLASSES = (
    VOICE,
    "fax-message",
    "pager-message",
    "multimedia-message",
    "text-message",
    "none",
)
_CLASS_BY_NAME = {name.lower(): name for name in CONTEXT_CLASSES}

_MAX_COUNT = 2**32 - 1  # a sanity bound: the grammar's msg-count is 1*DIGIT
# HCOLON = *( SP / HTAB ) ":" SWS (RFC 3261 §25.1), on a single line.
_HEADER = re.compile(r"([!%'*+\-.0-9A-Z_`a-z~]+)[ \t]*:[ \t]*(.*)")
_COUNTS = re.compile(r"(\d+)[ \t]*/[ \t]*(\d+)(?:[ \t]*\([ \t]*(\d+)[ \t]*/[ \t]*(\d+)[ \t]*\))?")
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:\S+")


class MessageSummaryError(SipParseError):
    """The body is not a valid simple-message-summary (RFC 3842 §5.2)."""


@dataclass(frozen=True, slots=True)
class MessageCounts:
    """One msg-summary-line: new and old messages, optionally the urgent ones among them."""

    new: int = 0
    old: int = 0
    urgent: tuple[int, int] | None = None  # (new urgent, old urgent)

    def __post_init__(self) -> None:
        values = (self.new, self.old, *(self.urgent or ()))
        if any(not 0 <= value <= _MAX_COUNT for value in values):
            raise ValueError(f"message counts out of range: {values}")

    def __str__(self) -> str:
        text = f"{self.new}/{self.old}"
        if self.urgent is not None:
            text += f" ({self.urgent[0]}/{self.urgent[1]})"
        return text


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """A parsed or to-be-sent simple-message-summary body."""

    waiting: bool
    account: str | None = None
    counts: tuple[tuple[str, MessageCounts], ...] = ()  # (context class, counts), in order
    headers: tuple[tuple[str, str], ...] = ()  # opt-msg-headers

    def __post_init__(self) -> None:
        classes = [name for name, _ in self.counts]
        unknown = [name for name in classes if name not in CONTEXT_CLASSES]
        if unknown:
            raise ValueError(f"unknown message context class {unknown[0]!r}")
        if len(set(classes)) != len(classes):
            raise ValueError("a message context class appears twice")

    @classmethod
    def voice(cls, counts: MessageCounts, *, account: str | None = None) -> MessageSummary:
        """The summary of a voice mailbox: waiting while it holds new messages."""
        return cls(waiting=counts.new > 0, account=account, counts=((VOICE, counts),))

    def count(self, context_class: str = VOICE) -> MessageCounts | None:
        return next((c for name, c in self.counts if name == context_class), None)

    def with_account(self, account: str) -> MessageSummary:
        return replace(self, account=account)

    # ---- wire form -----------------------------------------------------------------------

    def __bytes__(self) -> bytes:
        lines = [f"Messages-Waiting: {'yes' if self.waiting else 'no'}"]
        if self.account is not None:
            lines.append(f"Message-Account: {self.account}")
        lines += [f"{_title(name)}: {counts}" for name, counts in self.counts]
        if self.headers:
            lines.append("")
            lines += [f"{name}: {value}" for name, value in self.headers]
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> MessageSummary:
        lines = _lines(data)
        waiting = _status(lines[0])
        rest = lines[1:]
        account = None
        if rest and _name(rest[0]) == "message-account":
            account = _account(rest.pop(0))
        counts: list[tuple[str, MessageCounts]] = []
        while rest and rest[0] != "":
            counts.append(_summary_line(rest.pop(0)))
        headers = _extension_headers(rest)
        try:
            return cls(waiting, account, tuple(counts), headers)
        except ValueError as error:
            raise MessageSummaryError(str(error)) from None


def _title(context_class: str) -> str:
    # RFC 3842 §5.2's examples capitalise each word ("Voice-Message"); names compare
    # case-insensitively either way (RFC 5234 §2.3).
    return "-".join(part.capitalize() for part in context_class.split("-"))


def _lines(data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MessageSummaryError("message summary is not UTF-8") from None
    if not text.endswith("\r\n"):
        raise MessageSummaryError("message summary must end with CRLF")
    lines = text[:-2].split("\r\n")
    if any("\r" in line or "\n" in line for line in lines):
        raise MessageSummaryError("bare CR or LF in message summary")
    return lines


def _header(line: str) -> tuple[str, str]:
    match = _HEADER.fullmatch(line)
    if match is None:
        raise MessageSummaryError(f"not a header line: {line[:80]!r}")
    return match.group(1), match.group(2).rstrip(" \t")


def _name(line: str) -> str:
    match = _HEADER.fullmatch(line)
    return match.group(1).lower() if match else ""


def _status(line: str) -> bool:
    name, value = _header(line)
    if name.lower() != "messages-waiting":
        raise MessageSummaryError("message summary must start with Messages-Waiting")
    status = value.lower()
    if status not in ("yes", "no"):
        raise MessageSummaryError(f"Messages-Waiting must be yes or no, not {value[:20]!r}")
    return status == "yes"


def _account(line: str) -> str:
    _, value = _header(line)
    # Account-URI = SIP-URI / SIPS-URI / absoluteURI (RFC 3842 §5.2).
    if value.lower().startswith(("sip:", "sips:")):
        try:
            Uri.parse(value)
        except SipParseError as error:
            raise MessageSummaryError(f"bad Message-Account: {error.detail}") from None
    elif _ABSOLUTE_URI.fullmatch(value) is None:
        raise MessageSummaryError(f"Message-Account is not a URI: {value[:80]!r}")
    return value


def _summary_line(line: str) -> tuple[str, MessageCounts]:
    name, value = _header(line)
    context_class = _CLASS_BY_NAME.get(name.lower())
    if context_class is None:
        raise MessageSummaryError(f"unknown message context class {name[:40]!r}")
    match = _COUNTS.fullmatch(value)
    if match is None:
        raise MessageSummaryError(f"bad message counts {value[:40]!r}")
    numbers = [int(group) for group in match.groups() if group is not None]
    if any(number > _MAX_COUNT for number in numbers):
        raise MessageSummaryError(f"message count too large in {value[:40]!r}")
    urgent = (numbers[2], numbers[3]) if len(numbers) == 4 else None
    return context_class, MessageCounts(numbers[0], numbers[1], urgent)


def _extension_headers(rest: list[str]) -> tuple[tuple[str, str], ...]:
    if not rest:
        return ()
    # opt-msg-headers = CRLF 1*(extension-header CRLF): an empty line, then at least one.
    if rest[0] != "" or len(rest) < 2:
        raise MessageSummaryError("extension headers must follow one empty line")
    return tuple(_header(line) for line in rest[1:])
