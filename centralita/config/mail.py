"""Outgoing e-mail settings: the provider's SMTP server (one for the whole installation).

```yaml
smtp:
  host: smtp.provider.example
  port: 587                # default: 587 for starttls, 465 for ssl, 25 for none
  security: starttls       # starttls | ssl | none
  username: pbx@provider.example
  password: app-password
  from_address: "Centralita <pbx@provider.example>"
```

``starttls`` refuses to go on when the server does not offer STARTTLS (no silent downgrade to
clear text), and credentials are never sent over a connection that is not encrypted unless
``allow_plaintext_auth`` says so (for a relay on localhost).
"""

from __future__ import annotations

from email.errors import HeaderParseError
from email.headerregistry import Address
from email.policy import SMTP
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from centralita.config.tenants import ConfigModel

SmtpSecurity = Literal["starttls", "ssl", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}


def parse_mailbox(text: str) -> Address:
    """``user@host`` or ``Display Name <user@host>`` (RFC 5322 §3.4), as one Address."""
    try:
        header = SMTP.header_factory("To", text)
    except (HeaderParseError, IndexError, ValueError) as exc:
        raise ValueError(f"not an e-mail address: {text!r}") from exc
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(addresses) != 1 or header.defects:
        raise ValueError(f"expected exactly one e-mail address, got {text!r}")
    address = addresses[0]
    if not address.username or not address.domain:
        raise ValueError(f"an e-mail address needs user@domain, got {text!r}")
    return address


def check_mailbox(value: str) -> str:
    try:
        parse_mailbox(value)
    except ValueError as exc:
        raise PydanticCustomError("email", "{reason}", {"reason": str(exc)}) from None
    return value


Mailbox = Annotated[str, Field(max_length=320), AfterValidator(check_mailbox)]


class SmtpSettings(ConfigModel):
    """How Centralita sends e-mail (voicemail to e-mail, later reports)."""

    host: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535)  # None: the security's default
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: Mailbox
    # A CA bundle (PEM) to verify the server with instead of the system's: a private CA.
    ca_file: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)  # seconds, each network operation
    attempts: int = Field(default=4, ge=1, le=20)  # tries of one message, the first included
    retry_delay: float = Field(default=5.0, ge=0, le=3600)  # before the 2nd try; doubles after
    max_retry_delay: float = Field(default=300.0, ge=0, le=86400)
    allow_plaintext_auth: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise PydanticCustomError("smtp_auth", "give both username and password, or neither")
        if self.username is not None and self.security == "none" and not self.allow_plaintext_auth:
            raise PydanticCustomError(
                "smtp_auth",
                "refusing to send the SMTP password in clear text: use security starttls or "
                "ssl (or set allow_plaintext_auth for a trusted local relay)",
            )
        return self

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.security]
