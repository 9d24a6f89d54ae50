"""Settings of ``centralita serve``: the YAML settings model and the resolved options.

Precedence, highest first: command-line option, ``--config`` file, environment
(``$CENTRALITA_DATABASE_URL`` for the database), built-in default.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from centralita.config.dialplan import CarrierConfig
from centralita.config.fields import check_unique
from centralita.config.mail import SmtpSettings
from centralita.config.tenants import ConfigModel, TenantConfig, TenantsConfig, check_tenants
from centralita.store.engine import resolve_database_url

DEFAULT_SIP_LISTEN = "0.0.0.0:5060"
DEFAULT_RTP_PORTS = (20000, 20999)
DEFAULT_RING_TIMEOUT = 60.0
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
DIGEST_ALGORITHMS = ("MD5", "SHA-256")
# Phones that answer only the topmost challenge and know only MD5 (SIPp, baresip 1.0, many
# desk phones) fail when SHA-256 is offered at all, so SHA-256 is opt-in: list it first
# when every phone of the installation supports RFC 8760.
DEFAULT_DIGEST_ALGORITHMS = ("MD5",)
DigestAlgorithm = Literal["MD5", "SHA-256"]
T = TypeVar("T")
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6), HOST an IP literal or a host name."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} out of range 1-65535 in {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        _check_ipv6(host, text)
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. [::1]:5060, got {text!r}")
    return host, port


def _check_ipv6(host: str, text: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(f"invalid IPv6 address in {text!r}") from None


def parse_port_range(text: str) -> tuple[int, int]:
    """``LOW-HIGH``, an inclusive UDP port range holding at least one RTP/RTCP pair."""
    low_text, sep, high_text = text.partition("-")
    if not sep or not low_text.strip().isdigit() or not high_text.strip().isdigit():
        raise ValueError(f"expected LOW-HIGH, got {text!r}")
    low, high = int(low_text), int(high_text)
    if not 1024 <= low < high <= 65535:
        raise ValueError(f"need 1024 <= LOW < HIGH <= 65535, got {text!r}")
    return low, high


def _valid_listen(value: str) -> str:
    parse_host_port(value)
    return value


def _valid_range(value: str) -> str:
    parse_port_range(value)
    return value


def _provider_carrier(carrier: CarrierConfig) -> CarrierConfig:
    # A provider carrier places calls for every tenant, and each shows its own company
    # number: one caller ID for all would present a number most of them do not own.
    if carrier.caller_id is not None:
        raise PydanticCustomError(
            "provider_caller_id",
            "caller_id is not for a provider carrier: it serves every tenant, and each "
            "presents its own company number (set caller_id on a tenant's carrier)",
        )
    return carrier


ListenAddress = Annotated[str, AfterValidator(_valid_listen)]
PortRange = Annotated[str, AfterValidator(_valid_range)]
ProviderCarrier = Annotated[CarrierConfig, AfterValidator(_provider_carrier)]


class ServerSettings(ConfigModel):
    """The ``--config FILE`` of ``centralita serve``; every key is optional."""

    database: str | None = None
    sip_listen: list[ListenAddress] | None = Field(default=None, min_length=1)
    rtp_ports: PortRange | None = None
    sip_trace: bool | None = None
    log_level: LogLevel | None = None
    ring_timeout: float | None = Field(default=None, gt=0, le=3600)
    digest_algorithms: list[DigestAlgorithm] | None = Field(default=None, min_length=1)
    data_dir: str | None = None
    smtp: SmtpSettings | None = None  # the provider's mail server (voicemail to e-mail)
    # The provider's SIP trunks, shared by every tenant (see ServeOptions.carriers).
    carriers: list[ProviderCarrier] | None = None
    tenants: list[TenantConfig] | None = None  # applied when the server starts

    @model_validator(mode="after")
    def _consistent_tenants(self) -> ServerSettings:
        if self.tenants is not None:
            check_tenants(self.tenants)
        return self

    @model_validator(mode="after")
    def _unique_carriers(self) -> ServerSettings:
        names = [carrier.name for carrier in self.carriers or ()]
        check_unique(names, lambda i: ("carriers", i, "name"), "carrier name")
        return self


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Everything ``centralita.server.run_server`` needs, already validated and merged."""

    database_url: str
    sip_listen: list[str] = field(default_factory=lambda: [DEFAULT_SIP_LISTEN])
    rtp_ports: tuple[int, int] = DEFAULT_RTP_PORTS
    sip_trace: bool = False
    log_level: str = "INFO"  # a logging level name
    ring_timeout: float = DEFAULT_RING_TIMEOUT
    tenants_config: TenantsConfig | None = None
    data_dir: str = "var"  # prompts cache, tenants' uploads, recordings
    # Challenge order (RFC 8760 §2.4); MD5 alone by default: see DEFAULT_DIGEST_ALGORITHMS.
    digest_algorithms: tuple[str, ...] = DEFAULT_DIGEST_ALGORITHMS
    smtp: SmtpSettings | None = None  # voicemail to e-mail; None: no e-mail is sent
    # The provider's carriers: they deliver calls to every tenant's numbers and place the
    # outside calls of tenants without a carrier of their own (centralita.directory).
    carriers: tuple[CarrierConfig, ...] = ()
    # Schedules read the wall clock from this instant on (ISO 8601; tests and "what if"
    # checks); None: the real time.
    pretend_time: str | None = None


@dataclass(frozen=True, slots=True)
class ServeOverrides:
    """What the command line said; None where it said nothing."""

    database: str | None = None
    sip_listen: list[str] | None = None
    rtp_ports: tuple[int, int] | None = None
    sip_trace: bool | None = None
    log_level: str | None = None
    ring_timeout: float | None = None
    digest_algorithms: tuple[str, ...] | None = None
    data_dir: str | None = None
    pretend_time: str | None = None


def build_serve_options(
    overrides: ServeOverrides, settings: ServerSettings | None = None
) -> ServeOptions:
    """Merge command line > settings file > environment > defaults."""
    file = settings or ServerSettings()
    rtp = overrides.rtp_ports or (parse_port_range(file.rtp_ports) if file.rtp_ports else None)
    tenants = None if file.tenants is None else TenantsConfig(tenants=file.tenants)
    return ServeOptions(
        database_url=resolve_database_url(overrides.database or file.database),
        sip_listen=list(overrides.sip_listen or file.sip_listen or [DEFAULT_SIP_LISTEN]),
        rtp_ports=rtp or DEFAULT_RTP_PORTS,
        sip_trace=_first(overrides.sip_trace, file.sip_trace, False),
        log_level=_first(overrides.log_level, file.log_level, "info").upper(),
        ring_timeout=overrides.ring_timeout or file.ring_timeout or DEFAULT_RING_TIMEOUT,
        tenants_config=tenants,
        digest_algorithms=_algorithms(overrides.digest_algorithms, file.digest_algorithms),
        data_dir=overrides.data_dir or file.data_dir or "var",
        smtp=file.smtp,
        carriers=tuple(file.carriers or ()),
        pretend_time=overrides.pretend_time,
    )


def parse_digest_algorithms(text: str) -> tuple[str, ...]:
    """``MD5,SHA-256``: digest algorithms in the order challenges offer them."""
    names = tuple(name.strip().upper() for name in text.split(","))
    unknown = [name for name in names if name not in DIGEST_ALGORITHMS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"expected a list of {', '.join(DIGEST_ALGORITHMS)}, got {text!r}")
    return names


def _algorithms(cli: tuple[str, ...] | None, file: list[DigestAlgorithm] | None) -> tuple[str, ...]:
    if cli:
        return cli
    if file:
        if len(set(file)) != len(file):
            raise ValueError("digest_algorithms lists an algorithm twice")
        return tuple(file)
    return DEFAULT_DIGEST_ALGORITHMS


def _first(*values: T | None) -> T:
    for value in values:
        if value is not None:
            return value
    raise ValueError("no value and no default")
