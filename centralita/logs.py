"""Structured logs: one logfmt line per event, with tenant and Call-ID wherever known.

Every logger is used through :func:`call_logger` (or with ``extra={"tenant": ..., "call_id": ...}``)
so that a line about a call can always be found by grepping its Call-ID.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

_CONTEXT_KEYS = ("tenant", "call_id")


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    """``ts=... level=info logger=centralita.calls msg="..." tenant=acme call_id=...``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={stamp}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        for key in _CONTEXT_KEYS:
            value = record.__dict__.get(key)
            if value:
                parts.append(f"{key}={_quote(value)}")
        fields = record.__dict__.get("fields")
        if isinstance(fields, Mapping):
            parts.extend(f"{k}={_quote(v)}" for k, v in fields.items())
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        elif record.exc_text:
            parts.append(f"exc={_quote(record.exc_text)}")
        return " ".join(parts)


class CallLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that stamps every line with its tenant and Call-ID."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def call_logger(name: str, *, tenant: str | None = None, call_id: str | None = None) -> CallLogger:
    return CallLogger(logging.getLogger(name), {"tenant": tenant, "call_id": call_id})


def configure(level: str = "info") -> logging.handlers.QueueListener:
    """Log lines are formatted and written by a thread of their own: the event loop only
    queues records, so a slow stderr pipe never stalls SIP or media. Stop the returned
    listener at exit to flush what is queued."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, handler)
    root = logging.getLogger("centralita")
    root.handlers[:] = [_ContextQueueHandler(records)]
    root.setLevel(level.upper())
    root.propagate = False
    listener.start()
    return listener


class _ContextQueueHandler(logging.handlers.QueueHandler):
    """Keeps the record's own fields (tenant, call_id, fields) for the formatter thread."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record
