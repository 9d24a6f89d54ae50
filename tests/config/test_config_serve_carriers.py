"""The provider's carriers in the ``centralita serve --config`` file."""

from __future__ import annotations

import pytest

from centralita.config import ConfigError, ServeOverrides, ServerSettings, parse_model
from centralita.config.serve import build_serve_options

CARRIERS = """\
carriers:
  - name: upstream
    source: ["203.0.113.0/24"]
    number_format: national
  - name: backup
    register: {server: sip.carrier.example, username: pbx, password: s3cret}
    proxy: 192.0.2.1:5070
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_model(text, ServerSettings, filename="pbx.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_carriers_reach_the_serve_options_in_order() -> None:
    options = build_serve_options(ServeOverrides(), parse_model(CARRIERS, ServerSettings))
    upstream, backup = options.carriers
    assert (upstream.name, upstream.source, upstream.number_format) == (
        "upstream",
        ["203.0.113.0/24"],
        "national",
    )
    assert backup.registration is not None and backup.registration.username == "pbx"
    assert backup.registration.password.get_secret_value() == "s3cret"
    assert backup.proxy is not None and (backup.proxy.host, backup.proxy.port) == (
        "192.0.2.1",
        5070,
    )


def test_no_carriers_by_default() -> None:
    assert build_serve_options(ServeOverrides()).carriers == ()
    settings = parse_model("carriers: []\n", ServerSettings)
    assert build_serve_options(ServeOverrides(), settings).carriers == ()


def test_carrier_names_are_unique() -> None:
    text = CARRIERS + "  - {name: upstream, source: 198.51.100.7}\n"
    assert errors(text) == [
        "pbx.yaml:8: carriers[2].name: duplicate carrier name 'upstream' (first at index 0)"
    ]


def test_a_provider_carrier_has_no_caller_id() -> None:
    text = "carriers:\n  - {name: up, source: 192.0.2.1, caller_id: '+34910000000'}\n"
    [message] = errors(text)
    assert message.startswith("pbx.yaml:2: carriers[0]: caller_id is not for a provider carrier")
    assert "each presents its own company number" in message


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("{name: up}", "pbx.yaml:2: carriers[0]: give source (addresses) or register"),
        (
            "{name: up, source: not-an-address}",
            "pbx.yaml:2: carriers[0].source[0]: must be an IP address or network",
        ),
        (
            "{name: up, source: 192.0.2.1, number_format: local}",
            "pbx.yaml:2: carriers[0].number_format: Input should be 'e164', 'national'",
        ),
        ("{name: up, source: 192.0.2.1, trunk: yes}", "pbx.yaml:2: carriers[0].trunk: Extra"),
        (
            "{name: up, register: {server: sip.example, username: u}}",
            "pbx.yaml:2: carriers[0].register.password: Field required",
        ),
    ],
)
def test_carrier_errors_name_the_field(item: str, expected: str) -> None:
    [message] = errors(f"carriers:\n  - {item}\n")
    assert message.startswith(expected)
