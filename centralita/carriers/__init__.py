"""SIP trunks: calls from carriers to the tenants' virtual numbers (:mod:`.inbound`), calls
to external numbers through a tenant's carrier (:mod:`.outbound`), and the registrations the
PBX keeps with carriers that want them (:mod:`.registration`, :mod:`.trunks`)."""

from centralita.carriers.inbound import (
    PROVIDER,
    CarrierMatch,
    InboundRouter,
    Routed,
    TrunkSource,
    identify,
    normalise_dialled,
)
from centralita.carriers.outbound import (
    ExternalRoute,
    InvalidNumber,
    NoCarrier,
    format_number,
    outbound_carrier,
    route_external,
)
from centralita.carriers.registration import State, TrunkRegistration
from centralita.carriers.trunks import TrunkRegistrations, TrunkStatus, literal_resolver

__all__ = [
    "PROVIDER",
    "CarrierMatch",
    "ExternalRoute",
    "InboundRouter",
    "InvalidNumber",
    "NoCarrier",
    "Routed",
    "State",
    "TrunkRegistration",
    "TrunkRegistrations",
    "TrunkSource",
    "TrunkStatus",
    "format_number",
    "identify",
    "literal_resolver",
    "normalise_dialled",
    "outbound_carrier",
    "route_external",
]
