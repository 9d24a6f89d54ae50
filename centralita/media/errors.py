"""Media errors that carry their SIP meaning.

The call layer lets them propagate to the one place that turns a ``SipError`` into a response,
so a call that cannot get media is refused cleanly instead of being answered without audio.
"""

from __future__ import annotations

from centralita.sip.errors import SipError


class MediaError(SipError):
    """Base class of the media layer's errors."""

    status_code = 500
    reason = "Server Internal Error"


class NoMediaPorts(MediaError):
    """The RTP port range is exhausted: the call cannot be anchored, so it is refused with
    503 (RFC 3261 §21.5.4: a temporary overload, the caller may retry later)."""

    status_code = 503
    reason = "Service Unavailable"


class InvalidMediaAddress(MediaError):
    """The SDP names a media address the relay cannot send to (not an IP literal, or a family
    the local socket does not speak): the offer is not acceptable (RFC 3261 §21.4.26)."""

    status_code = 488
    reason = "Not Acceptable Here"
