"""SIP INFO DTMF bodies (application/dtmf-relay, application/dtmf) and merging the ways a
phone signals one key press into one event."""

from __future__ import annotations

import pytest

from centralita.media.dtmf import (
    DEFAULT_INFO_DURATION_MS,
    INFO_CONTENT_TYPES,
    DtmfDeduplicator,
    parse_info_body,
)
from centralita.media.events import DtmfReceived


@pytest.mark.parametrize(
    "body,digit,duration",
    [
        (b"Signal=5\r\nDuration=160\r\n", "5", 160),
        (b"Signal=5\r\nDuration=160", "5", 160),
        (b"signal=#\nduration=250\n", "#", 250),
        (b"Signal= #\r\nDuration= 100\r\n", "#", 100),
        (b"SIGNAL=*\r\nDURATION=80\r\n", "*", 80),
        (b"Signal=a\r\nDuration=120\r\n", "A", 120),
        (b"Signal=11\r\nDuration=120\r\n", "#", 120),  # event code, as some phones send
        (b"Signal=1\r\n", "1", DEFAULT_INFO_DURATION_MS),
        (b"Duration=90\r\nSignal=0\r\n", "0", 90),
        (b"Signal=7\r\nDuration=200\r\nVolume=10\r\n", "7", 200),  # unknown keys ignored
    ],
)
def test_dtmf_relay(body: bytes, digit: str, duration: int) -> None:
    assert parse_info_body("application/dtmf-relay", body) == DtmfReceived(digit, duration, "info")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"Signal=\r\nDuration=160\r\n",
        b"Signal=E\r\nDuration=160\r\n",
        b"Signal=16\r\nDuration=160\r\n",  # flash is not a key
        b"Signal=55\r\n",
        b"Signal=5\r\nDuration=abc\r\n",
        b"Signal=5\r\nDuration=-1\r\n",
        b"Signal=5\r\ngarbage line\r\n",
        b"Signal=\xff\r\n",
    ],
)
def test_invalid_dtmf_relay(body: bytes) -> None:
    assert parse_info_body("application/dtmf-relay", body) is None


@pytest.mark.parametrize(
    "body,digit", [(b"5", "5"), (b"5\r\n", "5"), (b" # ", "#"), (b"10", "*"), (b"15", "D")]
)
def test_application_dtmf(body: bytes, digit: str) -> None:
    assert parse_info_body("application/dtmf", body) == DtmfReceived(
        digit, DEFAULT_INFO_DURATION_MS, "info"
    )


@pytest.mark.parametrize("body", [b"", b"16", b"x", b"12 3"])
def test_invalid_application_dtmf(body: bytes) -> None:
    assert parse_info_body("application/dtmf", body) is None


def test_content_type_parameters_and_case() -> None:
    event = parse_info_body("Application/DTMF-Relay; charset=us-ascii", "Signal=3\r\n")
    assert event == DtmfReceived("3", DEFAULT_INFO_DURATION_MS, "info")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/sdp"])
def test_other_content_types(content_type: str | None) -> None:
    assert parse_info_body(content_type, b"Signal=5\r\nDuration=160") is None
    assert content_type not in INFO_CONTENT_TYPES


def _ev(digit: str, method: str, ms: int = 100) -> DtmfReceived:
    return DtmfReceived(digit, ms, method)


class TestDeduplicator:
    def test_rfc4733_and_inband_copy_of_one_press(self) -> None:
        dedup = DtmfDeduplicator()
        assert dedup.accept(_ev("5", "rfc4733"), now=1.00)
        assert not dedup.accept(_ev("5", "inband", 90), now=1.06)  # tone detected a bit later

    def test_inband_first_then_rfc4733(self) -> None:
        dedup = DtmfDeduplicator()
        assert dedup.accept(_ev("5", "inband"), now=1.00)
        assert not dedup.accept(_ev("5", "rfc4733"), now=1.02)

    def test_info_at_press_and_rfc4733_at_release(self) -> None:
        dedup = DtmfDeduplicator()
        assert dedup.accept(_ev("7", "info", 400), now=2.0)
        assert not dedup.accept(_ev("7", "rfc4733", 400), now=2.4)

    def test_other_digit_is_not_a_copy(self) -> None:
        dedup = DtmfDeduplicator()
        assert dedup.accept(_ev("5", "rfc4733"), now=1.0)
        assert dedup.accept(_ev("6", "inband"), now=1.01)

    def test_repeats_of_one_method_are_never_merged(self) -> None:
        dedup = DtmfDeduplicator()
        assert dedup.accept(_ev("1", "rfc4733", 60), now=1.00)
        assert dedup.accept(_ev("1", "rfc4733", 60), now=1.12)

    def test_same_digit_by_another_method_after_a_proper_gap_is_kept(self) -> None:
        dedup = DtmfDeduplicator()
        assert dedup.accept(_ev("4", "rfc4733"), now=1.0)
        assert dedup.accept(_ev("4", "inband"), now=2.0)

    def test_fast_double_press_sent_both_ways_gives_two_events(self) -> None:
        dedup = DtmfDeduplicator()
        # 100 ms presses, 100 ms apart: in-band copies arrive 20 ms after each RFC 4733 event,
        # except that the second in-band copy overtakes its RFC 4733 twin.
        stream = [
            (_ev("2", "rfc4733"), 0.10),
            (_ev("2", "inband"), 0.12),
            (_ev("2", "inband"), 0.30),
            (_ev("2", "rfc4733"), 0.31),
        ]
        delivered = [e for e, now in stream if dedup.accept(e, now)]
        assert len(delivered) == 2

    def test_each_accepted_event_absorbs_one_copy_per_method(self) -> None:
        dedup = DtmfDeduplicator()
        assert dedup.accept(_ev("9", "rfc4733"), now=1.0)
        assert not dedup.accept(_ev("9", "inband"), now=1.01)
        assert not dedup.accept(_ev("9", "info"), now=1.02)
        assert dedup.accept(_ev("9", "inband"), now=1.03)  # a second tone is a second press

    def test_filter_keeps_order(self) -> None:
        dedup = DtmfDeduplicator()
        events = [_ev("1", "rfc4733"), _ev("1", "inband"), _ev("2", "inband")]
        assert dedup.filter(events, now=5.0) == [events[0], events[2]]

    def test_sequence_of_keys_sent_both_ways(self) -> None:
        dedup = DtmfDeduplicator()
        delivered = []
        for i, digit in enumerate("1123581321"):
            press_end = i * 0.25 + 0.1
            delivered += dedup.filter([_ev(digit, "rfc4733")], now=press_end)
            delivered += dedup.filter([_ev(digit, "inband", 90)], now=press_end + 0.04)
        assert "".join(e.digit for e in delivered) == "1123581321"
