"""The call log's writer: rows go to the database from a thread of their own, in batches.

Writing two rows at the end of every call, each in its own transaction from the event loop,
cost the PBX a quarter of its CPU under load and held the loop while SQLite synced. Here the
loop only queues the records; one background thread takes what has gathered (up to
``batch_size`` rows, or whatever arrived within ``flush_interval`` seconds of the first) and
writes it with one INSERT in one transaction.

A batch that the database refuses (a row already in the log, a vanished tenant) is written
again row by row, so one bad row costs only itself; every failure is logged and the thread
goes on. :meth:`CallLogWriter.close` writes everything queued before it returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence

from centralita.store import AlreadyExists, CallRecord, Store

log = logging.getLogger("centralita.records")

BATCH_SIZE = 200
FLUSH_INTERVAL = 0.1  # seconds a row may wait for others to share its transaction


class _Flush:
    """Queued by :meth:`CallLogWriter.flush`: set once everything queued before is written."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Stop:
    """Queued by :meth:`CallLogWriter.close`: the last item the thread takes."""


_STOP = _Stop()
_Item = CallRecord | _Flush | _Stop


class CallLogWriter:
    """Writes call records to ``store`` from one background thread, in batches.

    :meth:`submit` may be called from any thread and never blocks on the database. The store
    must allow use from several threads (not in-memory SQLite: see
    :attr:`Store.shares_one_connection`).
    """

    def __init__(
        self,
        store: Store,
        *,
        batch_size: int = BATCH_SIZE,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        if store.shares_one_connection:
            raise ValueError("the store is one shared connection: it cannot be written by a thread")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._store = store
        self._batch_size = batch_size
        self._interval = flush_interval
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()  # orders submit() against close()
        self._thread = threading.Thread(target=self._run, name="centralita-call-log", daemon=True)
        self._thread.start()

    def submit(self, records: Iterable[CallRecord]) -> None:
        """Queue ``records`` for writing; after :meth:`close`, write them here and now."""
        with self._lock:
            if not self._closed:
                for record in records:
                    self._queue.put(record)
                return
        self._write(list(records))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted before this call is written (or failed and was
        logged); False if ``timeout`` passed first."""
        marker = _Flush()
        with self._lock:
            if not self._closed:
                self._queue.put(marker)
                return marker.done.wait(timeout)
        self._thread.join(timeout)  # closing: the thread drains the queue, then ends
        return not self._thread.is_alive()

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, then stop the thread. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("call log writer still busy after close")

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # ---- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, markers, stopping = self._gather()
            try:
                self._write(batch)
            except Exception:  # a bug below must not end the call log for the process
                log.exception("call log batch lost", extra={"fields": {"rows": len(batch)}})
            for marker in markers:
                marker.done.set()

    def _gather(self) -> tuple[list[CallRecord], list[_Flush], bool]:
        """The next batch: block for a first item, then take more until the batch is full,
        ``flush_interval`` has passed since the first, or a flush or stop asks for it now."""
        batch: list[CallRecord] = []
        markers: list[_Flush] = []
        item = self._queue.get()
        deadline = time.monotonic() + self._interval
        while True:
            if isinstance(item, _Stop):
                return batch, markers, True
            if isinstance(item, _Flush):
                markers.append(item)
                return batch, markers, False
            batch.append(item)
            if len(batch) >= self._batch_size:
                return batch, markers, False
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                return batch, markers, False

    def _write(self, batch: Sequence[CallRecord]) -> None:
        if not batch:
            return
        try:
            self._store.call_records.add_many(batch)
        except Exception as error:
            log.warning(
                "call log batch refused, writing it row by row",
                extra={"fields": {"rows": len(batch), "error": _first_line(error)}},
            )
            self._write_each(batch)

    def _write_each(self, batch: Sequence[CallRecord]) -> None:
        for record in batch:
            try:
                self._store.call_records.add(record)
            except Exception as error:
                _log_lost(record, error)


def _log_lost(record: CallRecord, error: Exception) -> None:
    duplicate = isinstance(error, AlreadyExists)
    log.log(
        logging.WARNING if duplicate else logging.ERROR,
        "call record already in the log" if duplicate else "call record not written",
        extra={
            "call_id": record.call_id,
            "fields": {"owner": record.owner, "error": _first_line(error)},
        },
    )


def _first_line(error: Exception) -> str:
    return str(error).split("\n", 1)[0]
