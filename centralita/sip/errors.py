"""Errors that carry their SIP meaning.

Each class names the response it becomes (RFC 3261 §21); the server core turns any
``SipError`` raised while handling a request into that response, in one place.
"""

from __future__ import annotations


class SipError(Exception):
    """Base class: ``status_code`` and ``reason`` are the response this error becomes."""

    status_code: int = 500
    reason: str = "Server Internal Error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.reason)
        self.detail = detail or self.reason


class SipParseError(SipError):
    """The bytes are not a well-formed SIP message (RFC 3261 §25)."""

    status_code = 400
    reason = "Bad Request"


class Unauthorized(SipError):
    status_code = 401
    reason = "Unauthorized"


class Forbidden(SipError):
    status_code = 403
    reason = "Forbidden"


class NotFound(SipError):
    status_code = 404
    reason = "Not Found"


class MethodNotAllowed(SipError):
    status_code = 405
    reason = "Method Not Allowed"


class RequestTimeout(SipError):
    status_code = 408
    reason = "Request Timeout"


class UnsupportedMediaType(SipError):
    status_code = 415
    reason = "Unsupported Media Type"


class UnsupportedUriScheme(SipError):
    status_code = 416
    reason = "Unsupported URI Scheme"


class BadExtension(SipError):
    status_code = 420
    reason = "Bad Extension"


class IntervalTooBrief(SipError):
    status_code = 423
    reason = "Interval Too Brief"

    def __init__(self, min_expires: int) -> None:
        super().__init__(f"expiration shorter than {min_expires} s")
        self.min_expires = min_expires


class TemporarilyUnavailable(SipError):
    status_code = 480
    reason = "Temporarily Unavailable"


class CallDoesNotExist(SipError):
    status_code = 481
    reason = "Call/Transaction Does Not Exist"


class LoopDetected(SipError):
    status_code = 482
    reason = "Loop Detected"


class TooManyHops(SipError):
    status_code = 483
    reason = "Too Many Hops"


class BusyHere(SipError):
    status_code = 486
    reason = "Busy Here"


class RequestTerminated(SipError):
    status_code = 487
    reason = "Request Terminated"


class NotAcceptableHere(SipError):
    status_code = 488
    reason = "Not Acceptable Here"


class RequestPending(SipError):
    status_code = 491
    reason = "Request Pending"


class ServerInternalError(SipError):
    status_code = 500
    reason = "Server Internal Error"


class VersionNotSupported(SipError):
    status_code = 505
    reason = "Version Not Supported"


class MessageTooLarge(SipError):
    status_code = 513
    reason = "Message Too Large"
