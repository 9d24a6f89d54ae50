"""Choosing the event loop: uvloop when it is installed (it roughly doubles the packet rate of
the asyncio transports), the standard loop otherwise or when asked to."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

DISABLE_ENV = "CENTRALITA_NO_UVLOOP"

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _uvloop_wanted(use_uvloop: bool) -> bool:
    return use_uvloop and os.environ.get(DISABLE_ENV, "") in ("", "0")


def event_loop_factory(use_uvloop: bool = True) -> LoopFactory:
    """A loop factory for ``asyncio.Runner(loop_factory=...)``: uvloop's when it is importable
    and neither ``use_uvloop=False`` nor ``CENTRALITA_NO_UVLOOP=1`` says otherwise."""
    if _uvloop_wanted(use_uvloop):
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            log.debug("uvloop not installed; using the asyncio event loop")
        else:
            factory: LoopFactory = uvloop.new_event_loop
            return factory
    return asyncio.new_event_loop


def install_event_loop_policy(use_uvloop: bool = True) -> bool:
    """Make ``asyncio.run`` and friends use uvloop when possible. Returns whether it does."""
    if not _uvloop_wanted(use_uvloop):
        asyncio.set_event_loop_policy(None)
        return False
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        log.debug("uvloop not installed; using the asyncio event loop")
        asyncio.set_event_loop_policy(None)
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
