"""The server's side of :class:`~centralita.routing.env.RoutingEnv`'s voicemail methods.

Theory of operation. Routing features ask the environment to file a message, list a box,
mark a message heard, delete it and e-mail it; the server's environment hands each request to
one :class:`VoicemailService` with the call's tenant. Filing and the store's updates block (file
system and database), so they run in a worker thread (:class:`VoicemailStore` says so). After
every change of a box's new/old counts (a message filed, heard for the first time, deleted)
the ``mwi`` callback is told the box, so the server can NOTIFY the box's subscribers of the
message-summary event package (RFC 3842 §3.2: a notifier sends a NOTIFY whenever the mailbox
state changes); :meth:`VoicemailService.message_counts` is the counts source
(:class:`~centralita.presence.subscriptions.MailboxCounts`) those NOTIFYs read. A failing
``mwi`` callback is logged and never undoes the change: the message is safe either way.

E-mail goes through the provider's :class:`~centralita.notify.mail.SmtpMailer` (its retries
included). :meth:`VoicemailService.email` never raises for a delivery problem: the failure is
logged (with the message id) and the message stays in its box, as the environment's contract
says; it returns the delivery report, or None when nothing was delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from centralita.notify.mail import DeliveryReport, MailDeliveryFailed, MailError, SmtpMailer
from centralita.notify.voicemail_mail import email_voicemail
from centralita.presence.message_summary import MessageCounts
from centralita.records.voicemail import VoicemailStore
from centralita.store import Store, TenantInfo
from centralita.store.voicemail import VoicemailMessage

log = logging.getLogger("centralita.voicemail")

MessageWaiting = Callable[[int, str], None]  # (tenant id, box): the box's counts changed


class VoicemailService:
    """Voicemail of every tenant: files under ``data_dir``, rows in ``store``, mail through
    ``mailer`` (None: no SMTP server configured, messages are kept but not e-mailed)."""

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        mailer: SmtpMailer | None,
        mwi: MessageWaiting,
    ) -> None:
        self.boxes = VoicemailStore(store, data_dir)
        self.mailer = mailer
        self._store = store
        self._mwi = mwi

    async def filed(
        self,
        tenant: TenantInfo,
        box: str,
        recording: Path,
        caller: str,
        caller_name: str,
        duration: float,
        *,
        received_at: datetime | None = None,
    ) -> VoicemailMessage:
        """Move ``recording`` into ``box`` and record it (both or neither), then tell MWI."""
        message = await asyncio.to_thread(
            self.boxes.file,
            tenant,
            box,
            recording,
            caller=caller,
            caller_name=caller_name or None,
            received_at=received_at,
            duration=duration,
        )
        log.info(
            "voicemail %s filed in box %s of %s: from %s, %.1f s",
            message.id,
            box,
            tenant.name,
            caller,
            duration,
        )
        self._changed(tenant.id, box)
        return message

    async def messages(self, tenant: TenantInfo, box: str) -> list[VoicemailMessage]:
        """The box's messages not deleted, oldest first."""
        return await asyncio.to_thread(self.boxes.messages, tenant, box)

    async def mark_heard(self, tenant: TenantInfo, message_id: str) -> VoicemailMessage:
        """Mark heard; MWI is told only when the message was new (its counts changed)."""
        before, after = await asyncio.to_thread(self._mark_heard, tenant, message_id)
        if not before.heard:
            self._changed(tenant.id, after.box)
        return after

    async def delete(self, tenant: TenantInfo, message_id: str) -> VoicemailMessage:
        """Mark deleted (the files go at the next purge), then tell MWI."""
        message = await asyncio.to_thread(self.boxes.delete, tenant, message_id)
        self._changed(tenant.id, message.box)
        return message

    async def email(
        self,
        message: VoicemailMessage,
        recipients: Sequence[str],
        timezone: tzinfo = UTC,
        *,
        language: str = "en",
    ) -> DeliveryReport | None:
        """Mail the message's WAV to ``recipients``; None (logged) when it was not sent."""
        if self.mailer is None:
            log.warning(
                "voicemail %s (box %s) not e-mailed to %s: no SMTP server configured",
                message.id,
                message.box,
                ", ".join(recipients),
            )
            return None
        try:
            return await email_voicemail(
                self.mailer, message, recipients, language=language, timezone=timezone
            )
        except MailDeliveryFailed:
            return None  # email_voicemail logged it, with the message id
        except (MailError, OSError) as exc:  # no valid recipient; the WAV unreadable
            log.error("voicemail %s (box %s) not e-mailed: %s", message.id, message.box, exc)
            return None

    def message_counts(self, tenant_id: int, box: str) -> MessageCounts:
        """New and old messages of a box, for message-summary NOTIFYs (RFC 3842 §5.2).
        Blocks on one small query: the presence layer calls it synchronously."""
        counts = self._store.voicemail.counts(tenant_id, box)
        return MessageCounts(new=counts.new, old=counts.old)

    def _mark_heard(
        self, tenant: TenantInfo, message_id: str
    ) -> tuple[VoicemailMessage, VoicemailMessage]:
        before = self.boxes.get(tenant, message_id)
        return before, self.boxes.mark_heard(tenant, message_id)

    def _changed(self, tenant_id: int, box: str) -> None:
        try:
            self._mwi(tenant_id, box)
        except Exception:
            log.exception("message-waiting update of box %s (tenant %d) failed", box, tenant_id)
