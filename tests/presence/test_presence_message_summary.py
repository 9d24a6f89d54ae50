"""The application/simple-message-summary body (RFC 3842 §5): build, parse, reject."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from centralita.presence.message_summary import (
    CONTEXT_CLASSES,
    VOICE,
    MessageCounts,
    MessageSummary,
    MessageSummaryError,
)

RFC_EXAMPLE = (
    b"Messages-Waiting: yes\r\n"
    b"Message-Account: sip:alice@vmail.example.com\r\n"
    b"Voice-Message: 4/8 (1/2)\r\n"
    b"\r\n"
)


def test_builds_the_voice_summary_of_a_mailbox() -> None:
    summary = MessageSummary.voice(MessageCounts(2, 8, (0, 2)), account="sip:101@acme.test")
    assert bytes(summary) == (
        b"Messages-Waiting: yes\r\n"
        b"Message-Account: sip:101@acme.test\r\n"
        b"Voice-Message: 2/8 (0/2)\r\n"
    )


def test_an_empty_mailbox_is_not_waiting() -> None:
    summary = MessageSummary.voice(MessageCounts(0, 3))
    assert summary.waiting is False
    assert bytes(summary) == b"Messages-Waiting: no\r\nVoice-Message: 0/3\r\n"


def test_parses_the_rfc_3842_example_with_extension_headers() -> None:
    body = RFC_EXAMPLE + b"Message-ID: <1234@example.com>\r\nSubject: hello\r\n"
    summary = MessageSummary.parse(body)
    assert summary.waiting is True
    assert summary.account == "sip:alice@vmail.example.com"
    assert summary.count(VOICE) == MessageCounts(4, 8, (1, 2))
    assert summary.count("fax-message") is None
    assert summary.headers == (("Message-ID", "<1234@example.com>"), ("Subject", "hello"))
    assert bytes(summary) == body  # canonical input round-trips byte for byte


def test_parse_is_case_insensitive_and_allows_whitespace_around_colons() -> None:
    summary = MessageSummary.parse(
        b"messages-waiting :  NO\r\nFAX-MESSAGE:1 / 2\r\nvoice-message: 0/0 ( 0 / 0 )\r\n"
    )
    assert summary.waiting is False
    assert summary.account is None
    assert summary.counts == (
        ("fax-message", MessageCounts(1, 2)),
        (VOICE, MessageCounts(0, 0, (0, 0))),
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"Messages-Waiting: yes",  # no final CRLF
        b"Messages-Waiting: maybe\r\n",
        b"Voice-Message: 1/2\r\n",  # status line missing
        b"Messages-Waiting: yes\nVoice-Message: 1/2\n",  # bare LF
        b"Messages-Waiting: yes\r\nVoice-Message: 1\r\n",
        b"Messages-Waiting: yes\r\nVoice-Message: -1/2\r\n",
        b"Messages-Waiting: yes\r\nVoice-Message: 1/2 (1)\r\n",
        b"Messages-Waiting: yes\r\nVoice-Message: 1/2\r\nVoice-Message: 3/4\r\n",
        b"Messages-Waiting: yes\r\nSmoke-Signal: 1/2\r\n",  # unknown context class
        b"Messages-Waiting: yes\r\nSubject: hi\r\n",  # extension header without the empty line
        b"Messages-Waiting: yes\r\n\r\n",  # empty line, then no extension header
        b"Messages-Waiting: yes\r\nMessage-Account: not a uri\r\n",
        b"Messages-Waiting: yes\r\nMessage-Account: sip:@\r\n",
        b"Messages-Waiting: yes\r\nVoice-Message: 99999999999/0\r\n",
        b"Messages-Waiting: yes\r\n\xff\r\n",
    ],
)
def test_rejects_what_the_grammar_does_not_allow(body: bytes) -> None:
    with pytest.raises(MessageSummaryError):
        MessageSummary.parse(body)


def test_parse_error_becomes_a_400() -> None:
    with pytest.raises(MessageSummaryError) as caught:
        MessageSummary.parse(b"nonsense\r\n")
    assert caught.value.status_code == 400


def test_counts_and_classes_are_validated_when_built() -> None:
    with pytest.raises(ValueError):
        MessageCounts(-1, 0)
    with pytest.raises(ValueError):
        MessageSummary(True, counts=(("smoke-signal", MessageCounts()),))


counts = st.builds(
    MessageCounts,
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.none() | st.tuples(st.integers(0, 999), st.integers(0, 999)),
)


@given(
    waiting=st.booleans(),
    account=st.none() | st.sampled_from(["sip:101@acme.test", "sips:9@x.example", "mailto:a@b"]),
    lines=st.dictionaries(st.sampled_from(CONTEXT_CLASSES), counts, max_size=6),
)
def test_build_then_parse_gives_the_same_summary(
    waiting: bool, account: str | None, lines: dict[str, MessageCounts]
) -> None:
    summary = MessageSummary(waiting, account, tuple(lines.items()))
    assert MessageSummary.parse(bytes(summary)) == summary
