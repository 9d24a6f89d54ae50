"""The message-summary notifier on its own: injected outbound, fake clock (RFC 6665, RFC 3842)."""

from __future__ import annotations

import pytest

from centralita.presence.message_summary import MessageCounts, MessageSummary
from centralita.presence.subscription import SubscriptionState
from centralita.presence.subscriptions import (
    BadEvent,
    NotAcceptable,
    SubscriptionManager,
    SubscriptionPolicy,
)
from centralita.sip.address import Address
from centralita.sip.errors import (
    CallDoesNotExist,
    IntervalTooBrief,
    MethodNotAllowed,
    ServerInternalError,
)
from centralita.sip.message import Request, Response, parse_message
from centralita.sip.transaction import TransactionKey
from centralita.sip.transaction_events import Role

PHONE = Address("udp", "192.0.2.10", 5062)
ACCOUNT = "sip:101@acme.test"
T0 = 1000.0


class FakeOutbound:
    def __init__(self) -> None:
        self.requests: list[tuple[Request, Address, TransactionKey]] = []

    def via(self, dest: Address) -> str:
        return "SIP/2.0/UDP 127.0.0.1:5060;rport"

    def contact(self, dest: Address, user: str | None = None) -> str:
        return f"<sip:{user + '@' if user else ''}127.0.0.1:5060>"

    def send_request(self, request: Request, dest: Address, now: float) -> TransactionKey:
        # Through the wire format, as the transaction layer would send it.
        sent = parse_message(bytes(request))
        assert isinstance(sent, Request)
        key = TransactionKey(Role.CLIENT, sent.top_via.branch or "", sent.method)
        self.requests.append((sent, dest, key))
        return key


class Mailboxes:
    def __init__(self) -> None:
        self.boxes: dict[tuple[int, str], MessageCounts] = {}

    def message_counts(self, tenant_id: int, box: str) -> MessageCounts:
        return self.boxes.get((tenant_id, box), MessageCounts())


class Harness:
    def __init__(self) -> None:
        self.out = FakeOutbound()
        self.responses: list[Response] = []
        self.mailboxes = Mailboxes()
        self.manager = SubscriptionManager(
            self.out, lambda r, now: self.responses.append(r), self.mailboxes
        )
        self.cseq = 1

    def subscribe_request(
        self, *extra: str, to_tag: str | None = None, call_id: str = "sub-1@phone"
    ) -> Request:
        self.cseq += 1
        lines = [
            "SUBSCRIBE sip:101@acme.test SIP/2.0",
            f"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-{call_id}-{self.cseq};rport",
            "Max-Forwards: 70",
            "From: <sip:101@acme.test>;tag=phone",
            "To: <sip:101@acme.test>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id}",
            f"CSeq: {self.cseq} SUBSCRIBE",
            "Contact: <sip:101@192.0.2.10:5062>",
            *extra,
            "Content-Length: 0",
        ]
        message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
        assert isinstance(message, Request)
        return message

    def subscribe(self, *extra: str, now: float = T0) -> Response:
        request = self.subscribe_request("Event: message-summary", *extra)
        self.manager.subscribe(request, PHONE, tenant_id=1, box="101", account=ACCOUNT, now=now)
        return self.responses[-1]

    def in_dialog(self, *extra: str, now: float, event: str = "message-summary") -> Response:
        tag = self.responses[0].to.tag
        request = self.subscribe_request(f"Event: {event}", *extra, to_tag=tag)
        key = TransactionKey(Role.SERVER, request.top_via.branch or "", "SUBSCRIBE")
        assert self.manager.on_in_dialog_request(request, key, PHONE, now)
        return self.responses[-1]

    def notifies(self) -> list[Request]:
        return [request for request, _, _ in self.out.requests]

    def answer_last(self, status: int, now: float, *extra: str) -> None:
        request, _, key = self.out.requests[-1]
        assert self.manager.on_response(key, reply(request, status, *extra), now)


def reply(request: Request, status: int, *extra: str) -> Response:
    """The subscriber's response to our NOTIFY."""
    lines = [f"SIP/2.0 {status} Whatever"]
    lines += [f"{name}: {request.headers.get(name)}" for name in ("Via", "From", "To", "Call-ID")]
    lines += [f"CSeq: {request.headers.get('CSeq')}", *extra, "Content-Length: 0"]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Response)
    return message


@pytest.fixture
def h() -> Harness:
    return Harness()


def body_of(notify: Request) -> MessageSummary:
    assert notify.content_type == "application/simple-message-summary"
    return MessageSummary.parse(notify.body)


# ---- accepting -------------------------------------------------------------------------------


def test_subscribe_gets_200_with_dialog_then_a_notify_with_the_current_summary(h: Harness) -> None:
    h.mailboxes.boxes[(1, "101")] = MessageCounts(2, 8, (0, 2))
    response = h.subscribe("Expires: 600", "Accept: application/simple-message-summary")
    assert response.status == 200
    assert response.to.tag  # our tag creates the dialog (RFC 3261 §12.1.1)
    assert response.expires == 600
    assert response.headers.get("Contact") == "<sip:101@127.0.0.1:5060>"
    [(notify, dest, _)] = h.out.requests
    assert dest == PHONE
    assert notify.method == "NOTIFY"
    assert str(notify.uri) == "sip:101@192.0.2.10:5062"  # the subscriber's Contact
    assert notify.call_id == "sub-1@phone"
    assert notify.from_.tag == response.to.tag and notify.to.tag == "phone"
    assert notify.headers.get("Event") == "message-summary"
    assert notify.headers.get("Subscription-State") == "active;expires=600"
    assert notify.headers.get("Contact") == "<sip:101@127.0.0.1:5060>"
    assert bytes(body_of(notify)) == (
        b"Messages-Waiting: yes\r\nMessage-Account: sip:101@acme.test\r\n"
        b"Voice-Message: 2/8 (0/2)\r\n"
    )


@pytest.mark.parametrize(
    ("expires", "granted"), [(None, 3600), ("7200", 3600), ("60", 60), ("4294967295", 3600)]
)
def test_expires_is_bounded(h: Harness, expires: str | None, granted: int) -> None:
    extra = () if expires is None else (f"Expires: {expires}",)
    assert h.subscribe(*extra).expires == granted
    assert h.notifies()[0].headers.get("Subscription-State") == f"active;expires={granted}"


def test_too_brief_a_subscription_is_refused_with_min_expires(h: Harness) -> None:
    with pytest.raises(IntervalTooBrief) as caught:
        h.subscribe("Expires: 59")
    assert caught.value.min_expires == 60
    assert h.responses == [] and h.notifies() == []


@pytest.mark.parametrize(
    "event", ["Event: presence", "Event: message-summary.winfo", "Event: Message-Summary"]
)
def test_an_event_package_we_do_not_serve_is_489(h: Harness, event: str) -> None:
    request = h.subscribe_request(event)
    with pytest.raises(BadEvent) as caught:
        h.manager.check(request)
    assert caught.value.status_code == 489
    assert caught.value.allow_events == "message-summary"


def test_a_subscribe_without_event_is_489(h: Harness) -> None:
    with pytest.raises(BadEvent):
        h.manager.check(h.subscribe_request())


@pytest.mark.parametrize("accept", ["application/sdp", "text/plain, application/pidf+xml", ""])
def test_an_accept_without_our_body_type_is_406(h: Harness, accept: str) -> None:
    request = h.subscribe_request("Event: message-summary", f"Accept: {accept}")
    with pytest.raises(NotAcceptable) as caught:
        h.manager.check(request)
    assert caught.value.status_code == 406


@pytest.mark.parametrize(
    "accept", ["application/simple-message-summary;q=0.5", "application/*", "*/*, text/plain"]
)
def test_accept_ranges_that_admit_our_body_type(h: Harness, accept: str) -> None:
    assert h.subscribe(f"Accept: {accept}").status == 200


def test_the_event_id_is_echoed_in_notify(h: Harness) -> None:
    request = h.subscribe_request("Event: message-summary;id=7")
    h.manager.subscribe(request, PHONE, tenant_id=1, box="101", account=ACCOUNT, now=T0)
    assert h.notifies()[0].headers.get("Event") == "message-summary;id=7"


# ---- notifications ---------------------------------------------------------------------------


def test_one_notify_in_flight_and_the_latest_state_follows_it(h: Harness) -> None:
    h.subscribe("Expires: 600")
    h.mailboxes.boxes[(1, "101")] = MessageCounts(1, 0)
    assert h.manager.notify_changed(1, "101", now=T0 + 1) == 1
    h.mailboxes.boxes[(1, "101")] = MessageCounts(2, 0)
    h.manager.notify_changed(1, "101", now=T0 + 2)
    assert len(h.notifies()) == 1  # the first NOTIFY is still unanswered
    h.answer_last(200, T0 + 3)
    assert len(h.notifies()) == 2
    latest = h.notifies()[-1]
    assert body_of(latest).count() == MessageCounts(2, 0)
    assert latest.headers.get("Subscription-State") == "active;expires=597"
    assert latest.cseq.number == h.notifies()[0].cseq.number + 1
    h.answer_last(200, T0 + 4)
    assert len(h.notifies()) == 2
    assert h.manager.subscriptions(1, "101")[0].state is SubscriptionState.ACTIVE


def test_a_given_summary_is_what_is_sent_even_when_deferred(h: Harness) -> None:
    h.subscribe("Expires: 600")
    given = MessageSummary.voice(MessageCounts(5, 1))
    h.manager.notify_changed(1, "101", given, now=T0 + 1)
    h.answer_last(200, T0 + 2)
    assert body_of(h.notifies()[-1]) == given.with_account(ACCOUNT)


def test_no_notify_without_a_subscription(h: Harness) -> None:
    h.subscribe("Expires: 600")
    assert h.manager.notify_changed(1, "102", now=T0) == 0
    assert h.manager.notify_changed(2, "101", now=T0) == 0
    assert len(h.notifies()) == 1


@pytest.mark.parametrize(
    ("status", "extra"),
    [(481, ()), (408, ()), (500, ()), (404, ())],
)
def test_a_failed_notify_removes_the_subscription(
    h: Harness, status: int, extra: tuple[str, ...]
) -> None:
    h.subscribe("Expires: 600")
    h.answer_last(status, T0 + 1, *extra)
    assert h.manager.subscriptions(1, "101") == []
    assert h.manager.get_timer() is None
    assert h.manager.notify_changed(1, "101", now=T0 + 2) == 0
    assert len(h.notifies()) == 1


@pytest.mark.parametrize(
    ("status", "extra"), [(503, ("Retry-After: 30",)), (401, ()), (407, ()), (202, ())]
)
def test_a_notify_error_with_something_to_retry_keeps_it(
    h: Harness, status: int, extra: tuple[str, ...]
) -> None:
    h.subscribe("Expires: 600")
    h.answer_last(status, T0 + 1, *extra)
    assert len(h.manager.subscriptions(1, "101")) == 1
    assert h.manager.notify_changed(1, "101", now=T0 + 2) == 1
    assert len(h.notifies()) == 2


def test_a_notify_that_times_out_removes_the_subscription(h: Harness) -> None:
    h.subscribe("Expires: 600")
    _, _, key = h.out.requests[-1]
    assert h.manager.on_timeout(key, T0 + 32)
    assert h.manager.subscriptions(1, "101") == []
    assert not h.manager.on_timeout(key, T0 + 33)  # no longer ours


def test_a_provisional_response_keeps_the_notify_in_flight(h: Harness) -> None:
    h.subscribe("Expires: 600")
    h.answer_last(100, T0 + 1)
    h.manager.notify_changed(1, "101", now=T0 + 2)
    assert len(h.notifies()) == 1


# ---- refresh, unsubscribe, expiry ------------------------------------------------------------


def test_refresh_extends_the_subscription_and_notifies(h: Harness) -> None:
    h.subscribe("Expires: 600")
    h.answer_last(200, T0)
    assert h.manager.get_timer() == T0 + 600
    response = h.in_dialog("Expires: 300", now=T0 + 500)
    assert response.status == 200 and response.expires == 300
    assert response.to.tag == h.responses[0].to.tag
    assert response.headers.get("Contact") == "<sip:101@127.0.0.1:5060>"
    assert h.manager.get_timer() == T0 + 800
    assert h.notifies()[-1].headers.get("Subscription-State") == "active;expires=300"
    h.answer_last(200, T0 + 500)
    h.manager.handle_timer(T0 + 600)  # the first deadline no longer counts
    assert len(h.notifies()) == 2


def test_unsubscribe_sends_a_terminated_notify_then_forgets(h: Harness) -> None:
    h.subscribe("Expires: 600")
    h.answer_last(200, T0)
    response = h.in_dialog("Expires: 0", now=T0 + 10)
    assert response.status == 200 and response.expires == 0
    final = h.notifies()[-1]
    assert final.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert body_of(final).account == ACCOUNT
    assert h.manager.get_timer() is None
    h.answer_last(200, T0 + 11)
    assert h.manager.subscriptions(1, "101") == []


def test_unsubscribe_while_a_notify_is_in_flight_waits_for_it(h: Harness) -> None:
    h.subscribe("Expires: 600")
    h.in_dialog("Expires: 0", now=T0 + 1)
    assert len(h.notifies()) == 1
    with pytest.raises(CallDoesNotExist):
        h.in_dialog("Expires: 600", now=T0 + 2)  # RFC 6665 §4.2.1.2: it is ending
    h.answer_last(200, T0 + 3)
    assert h.notifies()[-1].headers.get("Subscription-State") == "terminated;reason=timeout"
    h.answer_last(200, T0 + 4)
    assert h.manager.subscriptions(1, "101") == []


def test_expiry_on_the_clock_ends_with_reason_timeout(h: Harness) -> None:
    h.subscribe("Expires: 120")
    h.answer_last(200, T0)
    h.manager.handle_timer(T0 + 119.9)
    assert len(h.notifies()) == 1
    assert h.manager.get_timer() == T0 + 120
    h.manager.handle_timer(T0 + 120)
    assert h.notifies()[-1].headers.get("Subscription-State") == "terminated;reason=timeout"
    assert h.manager.get_timer() is None
    h.answer_last(200, T0 + 121)
    assert h.manager.subscriptions(1, "101") == []


def test_a_fetch_is_answered_and_terminated_at_once(h: Harness) -> None:
    response = h.subscribe("Expires: 0")
    assert response.status == 200 and response.expires == 0
    [notify] = h.notifies()
    assert notify.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert body_of(notify).waiting is False


def test_a_removed_mailbox_ends_with_noresource_and_no_body(h: Harness) -> None:
    h.subscribe("Expires: 600")
    h.answer_last(200, T0)
    h.manager.remove_mailbox(1, "101", now=T0 + 1)
    final = h.notifies()[-1]
    assert final.headers.get("Subscription-State") == "terminated;reason=noresource"
    assert final.body == b"" and "Content-Type" not in final.headers


def test_in_dialog_requests_that_are_not_refreshes(h: Harness) -> None:
    h.subscribe("Expires: 600")
    with pytest.raises(CallDoesNotExist):
        h.in_dialog("Expires: 600", now=T0, event="message-summary;id=other")
    tag = h.responses[0].to.tag
    request = h.subscribe_request("Event: message-summary", to_tag=tag)
    request.method = "INFO"
    request.headers.set("CSeq", f"{h.cseq} INFO")
    key = TransactionKey(Role.SERVER, "z9hG4bK-info", "INFO")
    with pytest.raises(MethodNotAllowed):
        h.manager.on_in_dialog_request(request, key, PHONE, T0)
    stranger = h.subscribe_request("Event: message-summary", to_tag="not-ours")
    assert not h.manager.on_in_dialog_request(stranger, key, PHONE, T0)


def test_an_out_of_order_refresh_is_500(h: Harness) -> None:
    h.cseq = 10
    h.subscribe("Expires: 600")
    h.cseq = 5
    with pytest.raises(ServerInternalError):
        h.in_dialog("Expires: 600", now=T0)


def test_policy_bounds_are_configurable() -> None:
    h = Harness()
    h.manager.policy = SubscriptionPolicy(min_expires=10, max_expires=100, default_expires=50)
    assert h.subscribe().expires == 50
    with pytest.raises(IntervalTooBrief):
        h.subscribe("Expires: 9")
