"""The asyncio side of calls the PBX answers or places itself: built-in services, calls
routed by the dial plan (with their RoutingEnv and dial verb), and the calls requested
through the store (``centralita ivr record-greeting``). The core hands calls over through
:class:`Applications`, its ApplicationRunner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from centralita.calls.appcall import AppCall
from centralita.config.serve import ServeOptions
from centralita.directory import TenantEntry
from centralita.live import LiveCall, MediaServices, run_service
from centralita.live_dial import Dialler
from centralita.media.conference import ConferenceRooms
from centralita.media.moh import MusicLibrary
from centralita.media.prompts import PromptLibrary
from centralita.media.rtp_endpoint import MediaEndpoint
from centralita.notify.mail import SmtpMailer
from centralita.originate import OriginatedCall, Origination, Originator
from centralita.routing import greeting
from centralita.routing.context import DialStatus
from centralita.routing.services import Service
from centralita.runtime import FlowStart, Planner, Runtime, TenantEnv, pretend_time, run_flow
from centralita.runtime_voicemail import VoicemailService
from centralita.store.call_requests import CallRequest

if TYPE_CHECKING:
    from centralita.server import SipServer

log = logging.getLogger("centralita.server")

REQUEST_POLL = 1.0  # seconds between looks at the call-request queue


class Applications:
    """Runs the asyncio side of calls the PBX answers itself (the core's ApplicationRunner)."""

    def __init__(self, server: SipServer, options: ServeOptions) -> None:
        self.server = server
        data_dir = Path(options.data_dir)
        self.services = MediaServices(
            endpoints=lambda: MediaEndpoint(server.relay.ports.allocate()),
            prompts=PromptLibrary(data_dir / "prompts", tenant_dir=data_dir / "tenants"),
            music=MusicLibrary(data_dir / "tenants"),
            rooms=ConferenceRooms(time.monotonic),
            media_ip=lambda call: server.core.b2bua.media_ip(call.peer),
            recordings=data_dir / "recordings",
            clock=time.monotonic,
        )
        self.tasks: set[asyncio.Task[None]] = set()

        core = server.core
        self.runtime = Runtime(
            directory=server.directory,
            is_busy=core.b2bua.is_busy,
            occupy=core.b2bua.occupy,
            media_ip=core.b2bua.media_ip,
            data_dir=data_dir,
            voicemail=VoicemailService(
                server.store,
                data_dir,
                None if options.smtp is None else SmtpMailer(options.smtp),
                self._mailbox_changed,
            ),
            pretend=pretend_time(options.pretend_time),
        )
        if self.runtime.voicemail is not None:  # message-waiting counts come from the boxes
            core.presence.counts = self.runtime.voicemail
        self.originator = Originator(core.outbound, server.drive, self.services, server.directory)
        self._poller: asyncio.Task[None] | None = None

    def start(self, call: AppCall, service: Service) -> None:
        live = LiveCall(call, self.server.core.apps, self.server.drive, self.services)
        self._run(run_service(live, service))

    def start_flow(self, call: AppCall, tenant: TenantEntry, start: FlowStart) -> None:
        """A call for the dial plan: its plan, its RoutingEnv, and a dial verb."""
        env = TenantEnv(self.runtime, tenant, self.server.directory.dial_plan(tenant.id))
        live = LiveCall(call, self.server.core.apps, self.server.drive, self.services)
        live.country = env.plan.country or "US"
        live.dialler = Dialler(live, self.server.core.outbound, Planner(self.runtime, env))
        self._run(run_flow(live, env, start))

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _mailbox_changed(self, tenant_id: int, box: str) -> None:
        """Message-waiting indication (RFC 3842) to the box's subscribed phones."""
        presence = self.server.core.presence

        def notify(now: float) -> None:
            presence.notify_changed(tenant_id, box, now=now)

        self.server.drive(notify)

    # ---- calls requested through the store (centralita ivr record-greeting) ----------------

    def start_requests(self) -> None:
        self._poller = asyncio.get_running_loop().create_task(self._poll_requests())

    async def _poll_requests(self) -> None:
        """Take the requests queued in the store; several workers may poll the same queue
        (``take_pending`` hands each request to one of them)."""
        store = self.server.store
        while True:
            try:
                if store.shares_one_connection:  # in-memory SQLite: one thread only
                    taken = store.call_requests.take_pending(5)
                else:
                    taken = await asyncio.to_thread(store.call_requests.take_pending, 5)
            except Exception:
                log.exception("reading the call requests failed")
                taken = []
            for request in taken:
                self._run(self._serve_request(request))
            await asyncio.sleep(REQUEST_POLL)  # polled: other processes fill the queue

    async def _serve_request(self, request: CallRequest) -> None:
        fields = {"request": request.id, "extension": request.extension}
        log.info("call request", extra={"fields": {**fields, "action": request.action}})
        try:
            result = await self._record_greeting(request)
        except asyncio.CancelledError:
            self._finish(request, "error: the server stopped")
            raise
        except Exception as error:
            log.exception("call request failed", extra={"fields": fields})
            result = f"error: {error}"
        log.info("call request done", extra={"fields": {**fields, "result": result}})
        await asyncio.to_thread(self._finish, request, result)

    def _finish(self, request: CallRequest, result: str) -> None:
        try:
            self.server.store.call_requests.finish(request.id, result)
        except Exception:
            log.exception("recording a call request's result failed")

    async def _record_greeting(self, request: CallRequest) -> str:
        """Call the extension and record the greeting of the IVR named in the request."""
        if request.action != "record_greeting":
            return f"error: unknown action {request.action!r}"
        directory = self.server.directory
        tenant = await asyncio.to_thread(self.server.store.tenants.get, request.tenant_id)
        if tenant is None:
            return "error: the tenant is gone"
        env = TenantEnv(self.runtime, tenant, directory.dial_plan(tenant.id))
        name = request.argument
        if all(menu.name != name for menu in env.plan.ivrs):
            return f"error: no IVR {name!r}"
        who = Origination(
            tenant.id,
            tenant.name,
            tenant.domain,
            request.extension,
            caller_name=f"IVR {name} greeting",
            service="record_greeting",
        )
        saved = False

        async def record(call: OriginatedCall) -> None:
            nonlocal saved
            try:
                await greeting.record_greeting(call, env, name)
            finally:
                saved = any(
                    step.get("node") == greeting.NODE and step.get("ending") == "save"
                    for step in call.side.trace
                )

        status = await self.originator.originate(Planner(self.runtime, env), who, record)
        if status is not DialStatus.ANSWERED:
            return "not answered"
        return "saved" if saved else "not saved"

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
