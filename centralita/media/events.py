"""Events the media engine hands to the call layer.

Every way a caller can press a key (RFC 4733 telephone-events, SIP INFO, tones in the audio)
ends as one :class:`DtmfReceived`, so features such as ``collect_digits`` never care how the
digit travelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The sixteen DTMF keys in RFC 4733 event-code order (§3.2, Table 3: 0-9, * = 10, # = 11,
# A-D = 12-15), so ``DTMF_DIGITS[code]`` is the key of an event code.
DTMF_DIGITS: Final = "0123456789*#ABCD"

DTMF_METHODS: Final = frozenset({"rfc4733", "info", "inband"})


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """One key press, reported once, whatever the transport."""

    digit: str  # "0"-"9", "*", "#", "A"-"D"
    duration_ms: int
    method: str  # "rfc4733" | "info" | "inband"

    def __post_init__(self) -> None:
        if len(self.digit) != 1 or self.digit not in DTMF_DIGITS:
            raise ValueError(f"not a DTMF digit: {self.digit!r}")
        if self.method not in DTMF_METHODS:
            raise ValueError(f"unknown DTMF method: {self.method!r}")
        if self.duration_ms < 0:
            raise ValueError(f"negative DTMF duration: {self.duration_ms}")
