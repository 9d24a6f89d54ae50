"""The outbound settings of a carrier: proxy, caller id, number format, prefix."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from centralita.config.dialplan import CarrierConfig, DialPlan


def carrier(**fields: Any) -> CarrierConfig:
    return CarrierConfig.model_validate({"name": "trunk", "source": "192.0.2.10", **fields})


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip.Carrier.example", "sip.carrier.example", 5060),
        ("sip.carrier.example:5070", "sip.carrier.example", 5070),
        ("192.0.2.1:5080", "192.0.2.1", 5080),
        ("[2001:db8::1]:5080", "2001:db8::1", 5080),
        ("2001:db8::1", "2001:db8::1", 5060),
    ],
)
def test_proxy_forms(text: str, host: str, port: int) -> None:
    proxy = carrier(proxy=text).proxy
    assert proxy is not None and (proxy.host, proxy.port, proxy.transport) == (host, port, "udp")


def test_defaults_and_round_trip() -> None:
    plain = carrier()
    assert (plain.proxy, plain.caller_id, plain.number_format, plain.prefix, plain.outbound) == (
        None,
        None,
        "e164",
        None,
        True,
    )
    assert plain.single_source == "192.0.2.10"
    assert carrier(source=["192.0.2.0/24"]).single_source is None
    assert carrier(source=["192.0.2.1", "192.0.2.2"]).single_source is None
    full = carrier(
        proxy={"host": "192.0.2.1", "port": 5070, "transport": "tcp"},
        caller_id="+34 910 000 000",
        number_format="e164_without_plus",
        prefix="99",
    )
    assert full.caller_id == "+34910000000"
    assert CarrierConfig.model_validate(full.model_dump(mode="json")) == full


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"proxy": "sip.example:port"}, "host:port"),
        ({"proxy": "999.1.1.1"}, "host name or an IP address"),
        ({"proxy": {"host": "192.0.2.1", "transport": "sctp"}}, "transport"),
        ({"proxy": {"host": "192.0.2.1", "port": 0}}, "port"),
        ({"caller_id": "910000000"}, "international number"),
        ({"number_format": "local"}, "number_format"),
        ({"prefix": "12a"}, "prefix"),
    ],
)
def test_invalid_settings(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        carrier(**fields)
    assert problem in str(caught.value)


def test_national_format_needs_the_tenants_country() -> None:
    national = {"name": "trunk", "source": "192.0.2.10", "number_format": "national"}
    assert DialPlan.model_validate({"country": "ES", "carriers": [national]}).carriers
    with pytest.raises(ValidationError) as caught:
        DialPlan.model_validate({"carriers": [national]})
    assert "carriers.0.number_format" in str(caught.value)
    assert "needs the tenant's country" in str(caught.value)
