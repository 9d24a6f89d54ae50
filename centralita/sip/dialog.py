"""SIP dialogs (RFC 3261 §12), sans-I/O.

Theory of operation: a :class:`Dialog` is the state two UAs keep between requests of one
call: Call-ID and tags (the dialog ID), local and remote URIs, the local and remote CSeq
numbers, the remote target (where in-dialog requests go) and the route set (the proxies that
asked to stay on the path with Record-Route). The UAC builds it from its INVITE and the
response carrying the remote tag (§12.1.2: route set = Record-Route reversed), the UAS from
the INVITE it answers (§12.1.1: Record-Route as received). In-dialog requests come from
:meth:`Dialog.create_request` (§12.2.1.1, with its strict-routing fallback when the first
route lacks ``lr``); incoming ones pass :meth:`Dialog.receive_request`
(§12.2.2: a CSeq lower than the last is out of order and answered 500). A target refresh
(re-INVITE, UPDATE, ...) replaces the remote target only once it succeeds: on the 2xx the UAC
receives (:meth:`Dialog.receive_response`, §12.2.1.2) or the 2xx the UAS sends
(:meth:`Dialog.confirm_target_refresh`, §12.2.2; RFC 6141 §4).

The ACK for a 2xx is the TU's (§13.2.2.4): :meth:`Dialog.create_ack` builds it, and
``TransactionLayer.send_stateless`` sends it and re-sends it on 2xx retransmissions.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from centralita.sip.errors import ServerInternalError, SipParseError
from centralita.sip.message import Headers, NameAddr, Request, Response, Uri, Via, new_branch

# Methods that refresh the remote target: RFC 3261 §12.2 (INVITE), RFC 3311 (UPDATE),
# RFC 6665 (SUBSCRIBE, NOTIFY), RFC 3515 (REFER).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
_URI_PARAMS_NOT_IN_REQUEST_URI = ("method",)  # RFC 3261 §19.1.1, table 1
_MAX_INITIAL_CSEQ = 2**31 - 1  # §8.1.1.5: less than 2**31


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogId(NamedTuple):
    """§12: Call-ID, local tag, remote tag (an absent tag is the empty string)."""

    call_id: str
    local_tag: str
    remote_tag: str


class DialogError(Exception):
    """The TU asked a dialog for something §12 does not allow."""


def uas_dialog_id(request: Request) -> DialogId:
    """The ID of the dialog an incoming in-dialog request belongs to (§12.2.2)."""
    return DialogId(request.call_id, request.to.tag or "", request.from_.tag or "")


def uac_dialog_id(response: Response) -> DialogId:
    """The ID of the dialog a response to our request establishes or belongs to (§12.1.2)."""
    return DialogId(response.call_id, response.from_.tag or "", response.to.tag or "")


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: Uri
    remote_uri: Uri
    remote_target: Uri
    route_set: list[NameAddr] = field(default_factory=list)
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    local_target: Uri | None = None  # our Contact, sent in target refresh requests
    state: DialogState = DialogState.CONFIRMED
    local_display: str | None = None
    remote_display: str | None = None

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def from_uac(cls, invite: Request, response: Response, *, secure: bool | None = None) -> Dialog:
        """The UAC's dialog from a 101-299 response with (normally) a To tag (§12.1.2)."""
        if not 100 < response.status < 300:
            raise DialogError(f"a {response.status} response does not create a dialog")
        local, remote = invite.from_, response.to
        contacts = invite.contacts
        return cls(
            call_id=invite.call_id,
            local_tag=local.tag or "",
            remote_tag=remote.tag or "",  # §12.1.2: a missing tag is a null tag (RFC 2543)
            local_uri=local.uri,
            remote_uri=remote.uri,
            remote_target=_contact_uri(response) or invite.uri,
            route_set=_route_set(response, reverse=True),
            local_seq=invite.cseq.number,
            secure=_secure(invite, secure),
            local_target=contacts[0].uri if contacts else None,
            state=DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED,
            local_display=local.display_name,
            remote_display=remote.display_name,
        )

    @classmethod
    def from_uas(
        cls,
        invite: Request,
        local_tag: str,
        contact: Uri,
        *,
        secure: bool | None = None,
        early: bool = False,
    ) -> Dialog:
        """The UAS's dialog for a request it answers with a To tag (§12.1.1). ``contact`` is
        the UAS's own Contact URI; ``early`` while only a provisional response was sent."""
        target = _contact_uri(invite)
        if target is None:
            raise SipParseError("dialog-creating request without Contact (RFC 3261 §8.1.1.8)")
        remote, local = invite.from_, invite.to
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=remote.tag or "",
            local_uri=local.uri,
            remote_uri=remote.uri,
            remote_target=target,
            route_set=_route_set(invite, reverse=False),
            remote_seq=invite.cseq.number,
            secure=_secure(invite, secure),
            local_target=contact,
            state=DialogState.EARLY if early else DialogState.CONFIRMED,
            local_display=local.display_name,
            remote_display=remote.display_name,
        )

    # -- requests we send --------------------------------------------------------------------
    def create_request(
        self,
        method: str,
        *,
        via: str,
        cseq: int | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        max_forwards: int = 70,
    ) -> Request:
        """An in-dialog request (§12.2.1.1). ``via`` is our Via value; a branch is added when
        it has none. ACK and CANCEL reuse a CSeq number (``cseq``, default the local one);
        every other method increments the local CSeq."""
        if self.state is DialogState.TERMINATED:
            raise DialogError("the dialog is terminated")
        number = self._next_cseq(method, cseq)
        uri, routes = self._target_and_routes()
        headers = Headers()
        headers.add("Via", _with_branch(via))
        headers.add("Max-Forwards", str(max_forwards))
        for route in routes:
            headers.add("Route", route)
        headers.add("From", str(NameAddr(self.local_uri, self.local_display, _tag(self.local_tag))))
        headers.add(
            "To", str(NameAddr(self.remote_uri, self.remote_display, _tag(self.remote_tag)))
        )
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{number} {method}")
        if method in TARGET_REFRESH_METHODS and self.local_target is not None:
            headers.add("Contact", f"<{self.local_target}>")  # §12.2.1.1 SHOULD
        if content_type is not None:
            headers.add("Content-Type", content_type)
        return Request(method=method, uri=uri, headers=headers, body=body)

    def create_ack(
        self, invite: Request, *, via: str, body: bytes = b"", content_type: str | None = None
    ) -> Request:
        """The ACK for a 2xx to ``invite`` (§13.2.2.4): an in-dialog request with a new
        branch, the INVITE's CSeq number and the INVITE's credentials."""
        ack = self.create_request(
            "ACK", via=via, cseq=invite.cseq.number, body=body, content_type=content_type
        )
        for name in ("Authorization", "Proxy-Authorization"):
            for value in invite.headers.get_all(name):
                ack.headers.add(name, value)
        return ack

    def _next_cseq(self, method: str, cseq: int | None) -> int:
        if method in ("ACK", "CANCEL"):
            number = cseq if cseq is not None else self.local_seq
            if number is None:
                raise DialogError(f"{method} needs the CSeq number of its INVITE")
            return number
        if cseq is not None:
            number = cseq
        elif self.local_seq is None:
            number = secrets.randbelow(_MAX_INITIAL_CSEQ // 2) + 1  # §12.2.1.1 / §8.1.1.5
        else:
            number = self.local_seq + 1
        self.local_seq = number
        return number

    def _target_and_routes(self) -> tuple[Uri, list[str]]:
        """§12.2.1.1: loose routing keeps the remote target as Request-URI; a strict first
        route becomes the Request-URI and the remote target goes last in Route."""
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if "lr" in first.uri.params:
            return self.remote_target, [str(route) for route in self.route_set]
        params = {
            k: v for k, v in first.uri.params.items() if k not in _URI_PARAMS_NOT_IN_REQUEST_URI
        }
        uri = replace(first.uri, params=params, headers={})
        routes = [str(route) for route in self.route_set[1:]]
        return uri, [*routes, f"<{self.remote_target}>"]

    # -- what we receive ---------------------------------------------------------------------
    def receive_request(self, request: Request) -> None:
        """§12.2.2: check the CSeq order of an in-dialog request and remember its number.
        Raises :class:`ServerInternalError` (500) for an out-of-order request."""
        if request.method in ("ACK", "CANCEL"):
            return  # they carry the INVITE's number and are matched by transaction
        number = request.cseq.number
        if self.remote_seq is not None and number < self.remote_seq:
            raise ServerInternalError(f"CSeq {number} lower than {self.remote_seq}")
        self.remote_seq = number

    def confirm_target_refresh(self, request: Request) -> None:
        """The UAS accepted (2xx) the target refresh ``request``: its Contact becomes the
        remote target (§12.2.2; applied on success only, RFC 6141 §4)."""
        if request.method in TARGET_REFRESH_METHODS:
            self.remote_target = _contact_uri(request) or self.remote_target

    def receive_response(self, method: str, response: Response) -> None:
        """A response to an in-dialog request of ``method`` we sent (UAC side)."""
        status = response.status
        if response.status in (408, 481):
            self.state = DialogState.TERMINATED  # §12.2.1.2 SHOULD
        elif 200 <= status < 300 and method == "INVITE" and self.state is DialogState.EARLY:
            # §13.2.2.4: the 2xx confirms the early dialog and the route set is recomputed.
            self.state = DialogState.CONFIRMED
            self.route_set = _route_set(response, reverse=True)
            self.remote_target = _contact_uri(response) or self.remote_target
        elif 200 <= status < 300 and method in TARGET_REFRESH_METHODS:
            self.remote_target = _contact_uri(response) or self.remote_target  # §12.2.1.2
        elif status >= 300 and method == "INVITE" and self.state is DialogState.EARLY:
            self.state = DialogState.TERMINATED  # §12.3: a non-2xx final ends early dialogs

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED


def _route_set(msg: Request | Response, *, reverse: bool) -> list[NameAddr]:
    routes = [NameAddr.parse(value) for value in msg.headers.get_all("Record-Route")]
    return routes[::-1] if reverse else routes


def _contact_uri(msg: Request | Response) -> Uri | None:
    contacts = msg.contacts
    return contacts[0].uri if contacts else None


def _secure(invite: Request, secure: bool | None) -> bool:
    # §12.1.1/§12.1.2: TRUE when sent over TLS with a SIPS Request-URI; the caller knows the
    # transport, the URI scheme is the default.
    return invite.uri.scheme == "sips" if secure is None else secure


def _tag(tag: str) -> dict[str, str | None]:
    return {"tag": tag} if tag else {}


def _with_branch(via: str) -> str:
    parsed = Via.parse(via)
    if parsed.branch:
        return via
    parsed.params["branch"] = new_branch()
    return str(parsed)
