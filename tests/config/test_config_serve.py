from __future__ import annotations

import pytest

from centralita.config import (
    ConfigError,
    ServeOptions,
    ServeOverrides,
    ServerSettings,
    build_serve_options,
    parse_host_port,
    parse_model,
    parse_port_range,
)
from centralita.store import DATABASE_URL_ENV

SETTINGS = """\
database: sqlite:///srv/pbx.sqlite3
sip_listen: ["127.0.0.1:5080", "[::1]:5080"]
rtp_ports: 30000-30999
sip_trace: true
log_level: debug
ring_timeout: 25
tenants:
  - name: acme
    domain: acme.test
    extensions:
      - {number: "101", password: "s3cret-101"}
"""


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert build_serve_options(ServeOverrides()) == ServeOptions(
        database_url="sqlite:///var/centralita.sqlite3",
        sip_listen=["0.0.0.0:5060"],
        rtp_ports=(20000, 20999),
        sip_trace=False,
        log_level="INFO",
        ring_timeout=60.0,
        tenants_config=None,
    )


def test_settings_file_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "sqlite:///env.db")
    options = build_serve_options(ServeOverrides(), parse_model(SETTINGS, ServerSettings))
    assert options.database_url == "sqlite:///srv/pbx.sqlite3"
    assert options.sip_listen == ["127.0.0.1:5080", "[::1]:5080"]
    assert (options.rtp_ports, options.sip_trace, options.log_level) == (
        (30000, 30999),
        True,
        "DEBUG",
    )
    assert options.ring_timeout == 25.0
    assert options.tenants_config is not None
    assert options.tenants_config.tenants[0].extensions[0].number == "101"


def test_command_line_wins_over_file_and_file_over_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "sqlite:///env.db")
    settings = parse_model(SETTINGS, ServerSettings)
    overrides = ServeOverrides(
        database="sqlite:///cli.db",
        sip_listen=["127.0.0.1:6000"],
        rtp_ports=(40000, 40099),
        sip_trace=False,
        log_level="warning",
        digest_algorithms=("SHA-256",),
    )
    options = build_serve_options(overrides, settings)
    assert options.database_url == "sqlite:///cli.db"
    assert options.sip_listen == ["127.0.0.1:6000"]
    assert (options.rtp_ports, options.sip_trace, options.log_level) == (
        (40000, 40099),
        False,
        "WARNING",
    )
    assert options.digest_algorithms == ("SHA-256",)
    no_db_in_file = parse_model("sip_trace: false\n", ServerSettings)
    assert build_serve_options(ServeOverrides(), no_db_in_file).database_url == "sqlite:///env.db"


def test_settings_errors_have_lines() -> None:
    text = "sip_listen: [127.0.0.1]\nrtp_ports: 9-8\nring_timeout: -1\nlog_level: loud\nport: 1\n"
    with pytest.raises(ConfigError) as caught:
        parse_model(text, ServerSettings, filename="pbx.yaml")
    messages = [str(issue) for issue in caught.value.issues]
    assert (
        messages[0] == "pbx.yaml:1: sip_listen[0]: Value error, expected HOST:PORT, got '127.0.0.1'"
    )
    assert messages[1].startswith("pbx.yaml:2: rtp_ports: Value error, need 1024 <= LOW < HIGH")
    assert messages[2] == "pbx.yaml:3: ring_timeout: Input should be greater than 0"
    assert messages[3].startswith("pbx.yaml:4: log_level: Input should be 'debug', 'info'")
    assert messages[4] == "pbx.yaml:5: port: Extra inputs are not permitted"


def test_settings_tenants_are_checked_like_a_tenants_file() -> None:
    text = "tenants:\n  - {name: a1, domain: a.test}\n  - {name: a1, domain: b.test}\n"
    with pytest.raises(ConfigError, match=r"pbx.yaml:3: tenants\[1\]\.name: duplicate tenant name"):
        parse_model(text, ServerSettings, filename="pbx.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:5060", ("0.0.0.0", 5060)),
        ("pbx.example.com:5061", ("pbx.example.com", 5061)),
        ("[2001:db8::1]:5060", ("2001:db8::1", 5060)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    "text", ["5060", ":5060", "host:", "host:0", "host:70000", "::1:5060", "[nope]:5060", "h:x"]
)
def test_parse_host_port_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_port(text)


def test_parse_port_range() -> None:
    assert parse_port_range("20000-20999") == (20000, 20999)
    for bad in ("20000", "20999-20000", "80-1000", "20000-70000", "a-b", "-5"):
        with pytest.raises(ValueError):
            parse_port_range(bad)
