from __future__ import annotations

import pytest

from centralita.transport import ListenSpec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("udp:127.0.0.1:5080", [("udp", "127.0.0.1", 5080)]),
        ("tcp:[::1]:5080", [("tcp", "::1", 5080)]),
        ("TCP:10.0.0.1:5070", [("tcp", "10.0.0.1", 5070)]),
        ("127.0.0.1:5080", [("udp", "127.0.0.1", 5080), ("tcp", "127.0.0.1", 5080)]),
        ("[::]:5060", [("udp", "::", 5060), ("tcp", "::", 5060)]),
        ("localhost:5062", [("udp", "localhost", 5062), ("tcp", "localhost", 5062)]),
        ("udp:localhost", [("udp", "localhost", 5060)]),
        ("0.0.0.0", [("udp", "0.0.0.0", 5060), ("tcp", "0.0.0.0", 5060)]),
        ("udp:pbx.example.com:0", [("udp", "pbx.example.com", 0)]),
        ("  tcp:[2001:db8::5]:5061 ", [("tcp", "2001:db8::5", 5061)]),
    ],
)
def test_parse_accepts(text: str, expected: list[tuple[str, str, int]]) -> None:
    specs = ListenSpec.parse(text)
    assert [(s.transport, s.host, s.port) for s in specs] == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", "empty"),
        ("tls:127.0.0.1:5061", "'tls'"),
        ("ws:127.0.0.1:8080", "'ws'"),
        ("udp:127.0.0.1:65536", "'65536'"),
        ("udp:127.0.0.1:-1", "'-1'"),
        ("udp:127.0.0.1:abc", "'abc'"),
        ("udp:127.0.0.1:", "''"),
        ("udp:", "missing host"),
        (":5060", "missing host"),
        ("udp:::1:5060", "brackets"),
        ("[::1:5060", "unterminated"),
        ("[::g]:5060", "'::g'"),
        ("[::1]x:5060", "'x:5060'"),
        ("tcp:bad_host!:5060", "'bad_host!'"),
        ("999.1.1.1:5060", "'999.1.1.1'"),
        ("-pbx:5060", "'-pbx'"),
    ],
)
def test_parse_rejects_naming_the_bad_part(text: str, names: str) -> None:
    with pytest.raises(ValueError, match="listen address") as info:
        ListenSpec.parse(text)
    assert names in str(info.value)


def test_str_round_trips() -> None:
    for text in ("udp:127.0.0.1:5080", "tcp:[::1]:5080"):
        (spec,) = ListenSpec.parse(text)
        assert str(spec) == text
        assert ListenSpec.parse(str(spec)) == [spec]
