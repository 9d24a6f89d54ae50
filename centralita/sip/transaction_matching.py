"""Which transaction a message belongs to (RFC 3261 §17.1.3, §17.2.3, §9.2) and the Via
stamping a server does on arrival (§18.2.1, RFC 3581 §4)."""

from __future__ import annotations

from centralita.sip.address import Address
from centralita.sip.headers import Via
from centralita.sip.message import Request, Response
from centralita.sip.transaction_events import Role, TransactionKey
from centralita.sip.transaction_server import default_port

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7


def is_rfc3261_branch(branch: str | None) -> bool:
    return branch is not None and branch.startswith(MAGIC_COOKIE)


def sent_by(via: Via) -> str:
    """The sent-by of a Via, host lower-cased and the default port made explicit."""
    return f"{via.host.lower()}:{via.port or default_port(via.transport)}"


def client_key(response: Response) -> TransactionKey | None:
    """§17.1.3: a response matches the client transaction whose request carried the same
    top Via branch and whose method equals the CSeq method. None without a branch."""
    branch = response.top_via.branch
    if not branch:
        return None
    return TransactionKey(Role.CLIENT, branch, response.cseq.method)


def request_client_key(request: Request) -> TransactionKey:
    """The key a request we send will be matched under (its own top Via branch)."""
    return TransactionKey(Role.CLIENT, request.top_via.branch or "", request.cseq.method)


def server_key(request: Request, *, method: str | None = None) -> TransactionKey:
    """§17.2.3: the server transaction a request belongs to; ACK maps to its INVITE.

    With the magic cookie the key is branch + sent-by + method. Without it (an RFC 2543
    peer) the fields the fallback rule compares are folded into the branch part: Request-URI,
    From tag, Call-ID, CSeq number and the whole top Via. The To tag is compared separately
    (:func:`fallback_to_tag_matches`) because an ACK's To tag is the one of our response.
    """
    via = request.top_via
    method = method or ("INVITE" if request.method == "ACK" else request.method)
    if is_rfc3261_branch(via.branch):
        return TransactionKey(Role.SERVER, via.branch or "", method, sent_by(via))
    fields = (
        str(request.uri),
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.number),
        str(via),
    )
    return TransactionKey(Role.SERVER, "rfc2543|" + "|".join(fields), method)


def fallback_to_tag_matches(
    request: Request, original: Request, last_response: Response | None
) -> bool:
    """RFC 2543 fallback (§17.2.3): the To tag must equal the original request's, or, for
    an ACK, the To tag of the response the server transaction sent."""
    if request.method == "ACK":
        expected = last_response.to.tag if last_response is not None else None
    else:
        expected = original.to.tag
    return (request.to.tag or None) == (expected or None)


def stamp_via(request: Request, source: Address) -> None:
    """§18.2.1: add ``received`` when the sent-by host is not the source address, and fill
    in an empty ``rport`` (RFC 3581 §4, which then also requires ``received``)."""
    via = request.top_via
    asked_rport = via.has_rport and via.rport is None
    if via.host == source.host and not asked_rport:
        return
    via.params["received"] = source.host
    if asked_rport:
        via.params["rport"] = str(source.port)
    # One comma-joined line keeps the Vias together and in order (§7.3.1).
    rest = request.headers.get_all("Via")[1:]
    request.headers.set("Via", ", ".join([str(via), *rest]))
