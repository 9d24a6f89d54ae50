"""``centralita serve``: the asyncio process that joins transports, transactions, core and media.

This is the only place where the sans-I/O layers meet the event loop: bytes from the
transports are parsed and handed to the transaction layer with the current time, the events
it returns go to the UA core, whatever they produced is sent, and one timer is armed for the
earliest deadline of any layer (the aioquic driver pattern).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from centralita import logs
from centralita.applications import Applications
from centralita.calls.media import MediaSession, Side
from centralita.carriers.trunks import literal_resolver
from centralita.config.apply import apply as apply_tenants
from centralita.config.serve import ServeOptions
from centralita.core import CoreSettings, UserAgentCore
from centralita.directory import Directory
from centralita.media.ports import RtpPortPool
from centralita.media.recording import RelayRecording
from centralita.media.relay import MediaRelay
from centralita.media.session import RelaySession
from centralita.media.transform import MediaPlan
from centralita.records.writer import CallLogWriter
from centralita.registrar.registrar import RegistrarPolicy
from centralita.sip.address import Address
from centralita.sip.errors import SipParseError
from centralita.sip.message import parse_message
from centralita.sip.rejection import stateless_rejection
from centralita.sip.transaction import TransactionLayer
from centralita.store import Store
from centralita.transport import ListenSpec, SipTransports, TransportOptions
from centralita.transport.loop import event_loop_factory

log = logging.getLogger("centralita.server")
trace = logging.getLogger("centralita.sip.trace")

PURGE_INTERVAL = 60.0


class RelayedMedia:
    """Adapts ``centralita.media``'s relay to the calls' ``MediaFactory``."""

    def __init__(self, relay: MediaRelay, media_ip: str, wake: Callable[[], None]) -> None:
        self.relay = relay
        self.media_ip = media_ip
        self._wake = wake

    def create(self, on_inactive: Callable[[], None]) -> MediaSession:
        def inactive(_session: RelaySession) -> None:
            on_inactive()
            self._wake()

        return _SessionView(self.relay.create_session(on_inactive=inactive))


class _SessionView:
    def __init__(self, session: RelaySession) -> None:
        self.session = session
        self.recording: RelayRecording | None = None

    def local_port(self, side: Side) -> int:
        endpoint = self.session.endpoint_a if side is Side.A else self.session.endpoint_b
        return endpoint.local_port

    def set_remote(self, side: Side, rtp: tuple[str, int], rtcp: tuple[str, int] | None) -> None:
        endpoint = self.session.endpoint_a if side is Side.A else self.session.endpoint_b
        endpoint.set_remote(rtp, rtcp)

    def set_hold(self, on_hold: bool) -> None:
        self.session.set_hold(on_hold)

    def set_media_plan(self, plan: MediaPlan | None) -> None:
        self.session.set_media_plan(plan)
        if self.recording is not None:
            self.recording.retap()

    def start_recording(self, path: Path, formats: Mapping[Side, Mapping[int, str]]) -> bool:
        try:
            legs = {side.value: f for side, f in formats.items()}
            self.recording = RelayRecording(self.session, path, legs)
        except OSError:
            log.exception("cannot record to %s", path)
            return False
        return True

    def set_recording_formats(self, side: Side, formats: Mapping[int, str]) -> None:
        if self.recording is not None:
            self.recording.set_formats(side.value, formats)

    def close(self) -> None:
        if self.recording is not None:
            self.recording.close()
        self.session.close()


class SipServer:
    def __init__(self, options: ServeOptions, store: Store) -> None:
        self.options = options
        self.store = store
        # A phone registered over TCP keeps its connection open for calls to reach it; it
        # need not send anything until it re-registers (RFC 5626 §3.5 keep-alives are optional).
        idle = RegistrarPolicy().max_expires + 120.0
        self.transports = SipTransports(TransportOptions(idle_timeout=idle))
        self.layer = TransactionLayer()
        self.specs = [spec for text in options.sip_listen for spec in ListenSpec.parse(text)]
        self.media_ip = _media_host(self.specs)
        low, high = options.rtp_ports
        self.relay = MediaRelay(RtpPortPool(low, high, host=self.media_ip))
        # The call log is written by a thread of its own, off the event loop (in-memory SQLite
        # is one connection no second thread may use: there it is written in line).
        self.call_log = None if store.shares_one_connection else CallLogWriter(store)
        self.directory = Directory(store, writer=self.call_log, carriers=options.carriers)
        self.core = UserAgentCore(
            self.directory,
            self.layer,
            self,
            RelayedMedia(self.relay, self.media_ip, self._wake),
            CoreSettings(
                ring_timeout=options.ring_timeout,
                auth_secret=_auth_secret(),
                digest_algorithms=options.digest_algorithms,
                recordings=Path(options.data_dir).absolute() / "recordings",
                resolve=_resolve,
            ),
        )
        self.applications = Applications(self, options)
        self.core.runner = self.applications
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0
        self._purge: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- Network protocol for Via/Contact ------------------------------------------------

    def local_address(self, transport: str, peer_host: str) -> tuple[str, int]:
        return self.transports.local_address_for(Address(transport, peer_host, 0))

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transports.start(self.specs, self._on_message, self._on_transport_error)
        self.relay.start()
        self.applications.start_requests()
        self._schedule_purge()
        self._sync_trunks()
        listening = " ".join(str(a) for a in self.transports.listen_addresses)
        log.info(
            "centralita ready",
            extra={
                "fields": {
                    "sip": listening,
                    "media": self.media_ip,
                    "rtp_ports": "{}-{}".format(*self.options.rtp_ports),
                }
            },
        )

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._purge is not None:
            self._purge.cancel()
        await self.applications.close()
        await self._unregister_trunks()
        self.relay.close()
        await self.transports.close()
        if self.call_log is not None:
            await asyncio.to_thread(self.call_log.close)  # writes what is still queued

    # ---- input -------------------------------------------------------------------------------

    def _on_message(self, data: bytes, source: Address) -> None:
        now = time.time()
        try:
            message = parse_message(data)
        except SipParseError as error:
            self._reject(data, source, error)
            return
        if self.options.sip_trace:
            trace.info(
                "received",
                extra={
                    "call_id": _call_id_of(data),
                    "fields": {"from": str(source), "sip": data.decode("utf-8", "replace")},
                },
            )
        self._run(lambda: self.core.receive(message, source, now))

    def _on_transport_error(self, dest: Address, error: Exception) -> None:
        now = time.time()
        log.info("transport error", extra={"fields": {"dest": str(dest), "error": str(error)}})
        self._run(lambda: self.core.handle(self.layer.transport_failed(dest, now), now))

    def _reject(self, data: bytes, source: Address, error: SipParseError) -> None:
        """A message too broken to parse: a 400 when enough of it can be read (RFC 3261 §16.3
        asks for it), otherwise dropped. Either way the server goes on."""
        log.info(
            "unparsable message", extra={"fields": {"from": str(source), "error": error.detail}}
        )
        response = stateless_rejection(data, error)
        if response is not None:
            self.transports.send(response, source)

    def drive(self, step: Callable[[float], None]) -> None:
        """Run one sans-I/O step (an application's command) and send what it produced."""
        self._run(lambda: step(time.time()))

    def _wake(self) -> None:
        if self._loop is not None:
            self._loop.call_soon(self._run, lambda: self.core.b2bua.check_media(time.time()))

    def _on_timer(self) -> None:
        self._timer = None
        now = time.time()

        def fire() -> None:
            self.core.handle(self.layer.handle_timer(now), now)
            self.core.handle_timer(now)

        self._run(fire)

    # ---- the driver ----------------------------------------------------------------------

    def _run(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception:
            log.exception("internal error while handling SIP")
        self._flush()
        self._arm_timer()

    def _flush(self) -> None:
        for data, dest in self.layer.datagrams_to_send():
            if self.options.sip_trace:
                trace.info(
                    "sent",
                    extra={
                        "call_id": _call_id_of(data),
                        "fields": {"to": str(dest), "sip": data.decode("utf-8", "replace")},
                    },
                )
            self.transports.send(data, dest)

    def _arm_timer(self) -> None:
        deadlines = [t for t in (self.layer.get_timer(), self.core.get_timer()) if t is not None]
        if not deadlines or self._loop is None:
            return
        deadline = min(deadlines)
        if self._timer is not None:
            if self._timer_at <= deadline:
                return  # the armed timer fires first anyway
            self._timer.cancel()
        # Our own deadline, not the handle's: uvloop hands back a plain Handle (no when())
        # for a delay that rounds to zero.
        self._timer_at = deadline
        self._timer = self._loop.call_later(max(0.0, deadline - time.time()), self._on_timer)

    def _schedule_purge(self) -> None:
        assert self._loop is not None
        self._purge = self._loop.call_later(PURGE_INTERVAL, self._purge_expired)

    def _purge_expired(self) -> None:
        try:
            self.directory.purge_expired(time.time())
        except Exception:
            log.exception("purging expired registrations failed")
        self._sync_trunks()
        self._schedule_purge()

    def _sync_trunks(self) -> None:
        """Register to the carriers the dial plans and the provider's settings name (RFC 3261
        §10.2), each once, and stop for those removed: done at start and then every purge
        interval, so an applied plan is followed."""
        try:
            carriers = self.directory.carriers_by_owner()
        except Exception:
            log.exception("reading the carriers failed")
            return
        trunks = self.core.trunks
        self._run(lambda: trunks.sync(carriers, time.time()))

    async def _unregister_trunks(self, patience: float = 2.0) -> None:
        """Un-REGISTER from the carriers (Expires: 0) and give them a moment to answer."""
        trunks = self.core.trunks
        self._run(lambda: trunks.stop_all(time.time()))
        deadline = time.monotonic() + patience
        while not trunks.idle and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # polled: the answers arrive through the transports


def _resolve(host: str, port: int, transport: str) -> Address | None:
    """A carrier registrar's address (A/AAAA, RFC 3263 §4.2 without SRV); None when the name
    does not resolve, which counts as a failed attempt and is retried later."""
    literal = literal_resolver(host, port, transport)
    if literal is not None:
        return literal
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    try:
        infos = socket.getaddrinfo(host, port, type=kind)
    except OSError:
        return None
    return Address(transport, str(infos[0][4][0]), port) if infos else None


def _call_id_of(data: bytes) -> str | None:
    """The Call-ID of a message for the trace, without a second parse (long or compact form)."""
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() in (b"call-id", b"i"):
            return value.strip().decode("utf-8", "replace")
    return None


def _media_host(specs: list[ListenSpec]) -> str:
    """Where the RTP relay binds: the SIP address when the PBX listens on exactly one, else
    every interface, dual-stack (each call's SDP then names the address towards its phone)."""
    hosts = {"127.0.0.1" if spec.host == "localhost" else spec.host for spec in specs}
    if len(hosts) == 1:
        (host,) = hosts
        return host
    return "::"


def _auth_secret() -> bytes:
    """Nonces are signed with this; workers of one machine share it through the environment."""
    value = os.environ.get("CENTRALITA_NONCE_SECRET")
    return value.encode() if value else secrets.token_bytes(32)


async def _serve(options: ServeOptions) -> None:
    store = Store.open(options.database_url)
    if options.tenants_config is not None:
        for change in apply_tenants(store, options.tenants_config):
            log.info("configuration", extra={"fields": {"change": str(change)}})
    server = SipServer(options, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    try:
        await stop.wait()
    finally:
        log.info("centralita stopping")
        await server.close()
        store.close()


def run_server(options: ServeOptions) -> int:
    listener = logs.configure(options.log_level)
    if options.sip_trace:
        logging.getLogger("centralita.sip.trace").setLevel(logging.INFO)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_serve(options))
    except OSError as error:
        log.error("cannot start", extra={"fields": {"error": str(error)}})
        return 1
    finally:
        listener.stop()
    return 0
