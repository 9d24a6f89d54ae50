"""The UAS core's 2xx retransmission until ACK (RFC 3261 §13.3.1.4).

Theory of operation: the INVITE server transaction sends a 2xx once and terminates (§17.2.1);
from then on the UAS core owns reliability. It re-sends the 2xx after T1, then doubles the
interval up to T2, for every transport (a later hop may be UDP), until an ACK with the same
Call-ID and CSeq number arrives. If none comes within 64*T1 it gives up and reports
:class:`AckTimedOut`; the TU SHOULD then end the dialog with BYE. While it runs, a
retransmitted INVITE (same branch) is answered with the 2xx again, instead of reaching the TU
as a new request (what RFC 6026 later made the transaction's job).

Usable on its own (``get_timer`` / ``handle_timer`` / ``datagrams_to_send``, like the layer)
or inside :class:`~centralita.sip.transaction.TransactionLayer`, which shares its outbox.
"""

from __future__ import annotations

from centralita.sip.address import Address
from centralita.sip.message import Request, Response
from centralita.sip.transaction_events import AckTimedOut, TransactionEvent, TransactionKey
from centralita.sip.transaction_machine import T1, T2, Outbox


class Uas2xxRetransmitter:
    """Re-sends one 2xx to an INVITE until its ACK arrives or 64*T1 pass."""

    def __init__(
        self,
        key: TransactionKey,
        response: Response,
        dest: Address,
        now: float,
        *,
        t1: float = T1,
        t2: float = T2,
        out: Outbox | None = None,
    ) -> None:
        if not 200 <= response.status < 300 or response.cseq.method != "INVITE":
            raise ValueError("only a 2xx to an INVITE is retransmitted by the UAS core")
        self.key = key
        self.call_id = response.call_id
        self.cseq = response.cseq.number
        self.dest = dest
        self.data = bytes(response)
        self.out = out if out is not None else Outbox()
        self._t2 = t2
        self._interval = t1
        self._next_send = now + t1
        self._give_up_at = now + 64 * t1
        self.terminated = False

    def matches_ack(self, ack: Request) -> bool:
        """§13.3.1.4: the ACK for this 2xx has the same Call-ID and CSeq number."""
        return ack.call_id == self.call_id and ack.cseq.number == self.cseq

    def receive_ack(self, ack: Request) -> bool:
        """Stop if ``ack`` acknowledges this 2xx; says whether it did."""
        if self.terminated or not self.matches_ack(ack):
            return False
        self.terminated = True
        return True

    def resend(self) -> None:
        """Answer a retransmitted INVITE with the 2xx again."""
        if not self.terminated:
            self.out.send(self.data, self.dest)

    def next_deadline(self) -> float | None:
        return None if self.terminated else min(self._next_send, self._give_up_at)

    def fire_due(self, now: float) -> None:
        while not self.terminated and self._next_send <= now < self._give_up_at:
            self.out.send(self.data, self.dest)
            self._interval = min(2 * self._interval, self._t2)
            self._next_send += self._interval
        if not self.terminated and now >= self._give_up_at:
            self.terminated = True
            self.out.emit(AckTimedOut(self.key, self.call_id, self.cseq))

    # -- stand-alone sans-I/O surface ------------------------------------------------------
    def get_timer(self) -> float | None:
        return self.next_deadline()

    def handle_timer(self, now: float) -> list[TransactionEvent]:
        self.fire_due(now)
        events, self.out.events = self.out.events, []
        return events

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        datagrams, self.out.datagrams = self.out.datagrams, []
        return datagrams
