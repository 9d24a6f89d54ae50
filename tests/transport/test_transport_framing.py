from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from centralita.transport import FramingError, StreamFramer

INVITE_BODY = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def message(tag: str, body: bytes = b"", length_line: str | None = None) -> bytes:
    length_line = length_line if length_line is not None else f"Content-Length: {len(body)}"
    return (
        f"INVITE sip:{tag}@acme.test SIP/2.0\r\nCall-ID: {tag}\r\n{length_line}\r\n\r\n"
    ).encode() + body


def test_one_message_with_body_in_one_chunk() -> None:
    data = message("a", INVITE_BODY)
    assert StreamFramer().feed(data) == [data]


def test_message_is_held_until_its_body_is_complete() -> None:
    framer = StreamFramer()
    data = message("a", INVITE_BODY)
    assert framer.feed(data[:-1]) == []
    assert framer.buffered == len(data) - 1
    assert framer.feed(data[-1:]) == [data]
    assert framer.buffered == 0


def test_body_containing_crlfcrlf_is_not_split() -> None:
    body = b"\r\n\r\nbinary\r\n\r\n"
    data = message("a", body)
    assert StreamFramer().feed(data + data) == [data, data]


@pytest.mark.parametrize(
    "length_line",
    ["l: 3", "L:3", "content-length: 3", "CONTENT-LENGTH :\t3 ", "Content-Length:\r\n  3"],
)
def test_content_length_spellings(length_line: str) -> None:
    # RFC 3261 §7.3.1 (case, whitespace around the colon, folding) and §7.3.3 (compact "l").
    data = message("a", b"abc", length_line) + message("b")
    assert StreamFramer().feed(data) == [message("a", b"abc", length_line), message("b")]


def test_a_header_merely_ending_in_l_is_not_content_length() -> None:
    data = message("a", b"xyz").replace(b"Call-ID: a", b"Xl: 99\r\nCall-ID: a")
    assert StreamFramer().feed(data) == [data]


def test_repeated_equal_content_length_is_accepted() -> None:
    data = message("a", b"xy", "Content-Length: 2\r\nl: 2")
    assert StreamFramer().feed(data) == [data]


def test_keepalive_pings_and_stray_crlfs() -> None:
    framer = StreamFramer()
    # RFC 5626 §4.4.1: CRLFCRLF is a ping; RFC 3261 §7.5: a single CRLF is ignored.
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.pop_pings() == 1
    assert framer.pop_pings() == 0
    assert framer.feed(b"\r\n" + message("a") + b"\r\n") == [message("a")]
    assert framer.pop_pings() == 0
    assert framer.feed(b"\r") == []
    assert framer.feed(b"\n\r\n\r\n") == []
    assert framer.pop_pings() == 2
    assert framer.buffered == 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n", "without Content-Length"),
        (b"GARBAGE\r\n\r\n", "without Content-Length"),
        (message("a", b"", "Content-Length: -1"), "invalid Content-Length"),
        (message("a", b"", "Content-Length: 1x"), "invalid Content-Length"),
        (message("a", b"", "Content-Length:"), "invalid Content-Length"),
        (message("a", b"", "Content-Length: 99999999999"), "invalid Content-Length"),
        (message("a", b"", "Content-Length: 1\r\nl: 2"), "conflicting"),
        (message("a", b"", "Content-Length: 2000000"), "above"),
    ],
)
def test_unframeable_messages(data: bytes, reason: str) -> None:
    with pytest.raises(FramingError, match=reason):
        StreamFramer().feed(data)


def test_header_block_too_large_without_its_end() -> None:
    framer = StreamFramer(max_header_size=1024)
    assert framer.feed(b"OPTIONS sip:a SIP/2.0\r\n" + b"X: y\r\n" * 100) == []
    with pytest.raises(FramingError, match="larger than 1024"):
        framer.feed(b"X: y\r\n" * 100)


def test_header_block_too_large_with_its_end() -> None:
    data = message("a").replace(b"Call-ID", b"X: " + b"y" * 2000 + b"\r\nCall-ID")
    with pytest.raises(FramingError, match="larger than 1024"):
        StreamFramer(max_header_size=1024).feed(data)


def test_error_keeps_earlier_messages_and_is_final() -> None:
    framer = StreamFramer()
    with pytest.raises(FramingError) as info:
        framer.feed(message("a") + message("b") + b"JUNK\r\n\r\n" + message("c"))
    assert info.value.messages == [message("a"), message("b")]
    with pytest.raises(FramingError, match="already failed"):
        framer.feed(message("d"))


messages_strategy = st.lists(
    st.tuples(
        st.binary(max_size=300),
        st.sampled_from(["Content-Length", "l", "content-length", "CONTENT-LENGTH "]),
        st.integers(min_value=0, max_value=3),  # keep-alive CRLF pairs before the message
    ),
    min_size=1,
    max_size=8,
)


@given(messages_strategy, st.data())
def test_any_chunking_yields_the_same_messages(
    items: list[tuple[bytes, str, int]], data: st.DataObject
) -> None:
    expected = [
        message(f"m{i}", body, f"{name}: {len(body)}") for i, (body, name, _) in enumerate(items)
    ]
    stream = b"".join(
        b"\r\n\r\n" * pings + m for (_, _, pings), m in zip(items, expected, strict=True)
    )
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=30)))
    framer = StreamFramer()
    received: list[bytes] = []
    pings = 0
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        received += framer.feed(stream[start:end])
        pings += framer.pop_pings()
    assert received == expected
    assert pings == sum(p for _, _, p in items)
    assert framer.buffered == 0
