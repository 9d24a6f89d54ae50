"""The SMTP settings model: default ports per security, credentials kept safe."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from centralita.config.mail import SmtpSettings, parse_mailbox

BASE: dict[str, Any] = {"host": "smtp.provider.test", "from_address": "pbx@provider.test"}


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_default_port_follows_the_security(security: str, port: int) -> None:
    assert SmtpSettings(**BASE, security=security).effective_port == port
    assert SmtpSettings(**BASE, security=security, port=2525).effective_port == 2525


def test_defaults_are_safe() -> None:
    settings = SmtpSettings(**BASE)
    assert settings.security == "starttls"
    assert (settings.attempts, settings.retry_delay, settings.timeout) == (4, 5.0, 30.0)


def test_password_is_never_shown() -> None:
    settings = SmtpSettings(**BASE, username="pbx", password="hunter2-secret")
    assert "hunter2-secret" not in repr(settings)
    assert settings.password is not None
    assert settings.password.get_secret_value() == "hunter2-secret"


def test_username_and_password_go_together() -> None:
    with pytest.raises(ValidationError, match="both username and password"):
        SmtpSettings(**BASE, username="pbx")


def test_no_password_in_clear_text_unless_allowed() -> None:
    with pytest.raises(ValidationError, match="clear text"):
        SmtpSettings(**BASE, security="none", username="pbx", password="pw")
    allowed = SmtpSettings(
        **BASE, security="none", username="pbx", password="pw", allow_plaintext_auth=True
    )
    assert allowed.allow_plaintext_auth


@pytest.mark.parametrize("bad", ["pbx", "pbx@", "a@b.test, c@d.test", "x\r\nBcc: y@z.test", "<>"])
def test_from_address_must_be_one_mailbox(bad: str) -> None:
    with pytest.raises(ValidationError, match="from_address"):
        SmtpSettings(**(BASE | {"from_address": bad}))


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        SmtpSettings(**BASE, hots="typo.test")


def test_parse_mailbox_keeps_the_display_name() -> None:
    address = parse_mailbox("Centralita <pbx@provider.test>")
    assert (address.display_name, address.addr_spec) == ("Centralita", "pbx@provider.test")
