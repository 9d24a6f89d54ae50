"""IVR menus at run time (issue 4, "IVR menus"; configuration: :class:`IvrConfig`).

Theory of operation. A menu with ``diversion`` does nothing itself: every call goes to the
diversion (a schedule there makes the menu work by schedule) through ``goto``, unanswered.
Otherwise the menu answers and runs up to ``loops`` rounds; each round

1. plays the greeting (:func:`~centralita.routing.greeting.menu_greeting`) with barge-in on
   every key: a key pressed during it is the caller's choice at once, and keys pressed
   after that one stay queued as the digits that follow (type-ahead);
2. if the greeting ended with no key, waits ``timeout`` seconds for one;
3. decides what the keys mean (below). An option or an extension: the trace says so and
   the call goes on through ``goto``; the menu is done. An invalid choice: the ``invalid``
   greeting (default: the system prompt ``invalid_option``) plays, not interruptible so
   that keys pressed during it are kept for the next round; the round counts. No key: the
   round counts.

After ``loops`` rounds without a choice the call goes to ``after_loops``.

Direct dialling (``direct_dial``). Extension numbers have 2 to 6 digits and option keys one,
so the number of digits decides and the caller never needs a terminator:

- ``*`` and ``#`` never start a number: they are decided at once (option or invalid);
- a digit waits up to ``INTER_DIGIT_TIMEOUT`` seconds for another, and so on, up to six;
  ``#`` ends the number early (``1#`` takes option 1 without the wait);
- one digit alone is the option of that key (or invalid); two or more are an extension
  number, reached if the extension exists, else invalid.

So with direct dialling an option key is taken ``INTER_DIGIT_TIMEOUT`` seconds after it is
pressed (at once when followed by ``#``); without it, the first key is the whole choice.

Features send the call on through ``goto`` (never ``flow.route``), so loop detection and the
trace stay in one place; nested menus are one ``goto({ivr: ...})`` away. CallerHungUp from
any verb propagates to the runner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from centralita.config.dialplan import DestinationModel, IvrConfig, ToExtension
from centralita.routing.context import CallContext, Playable
from centralita.routing.env import RoutingEnv
from centralita.routing.greeting import menu_greeting, playable, record_greeting
from centralita.routing.resolve import describe

__all__ = ["Goto", "record_greeting", "run"]

# The same alias as centralita.routing.flow.Goto: where a feature sends the call on.
Goto = Callable[[DestinationModel], Awaitable[None]]

ALL_KEYS = "0123456789*#"
INTER_DIGIT_TIMEOUT = 2.5
MAX_EXTENSION_DIGITS = 6  # centralita.config.fields.check_number: 2 to 6 digits
NUMBER_END = "#"
INVALID_PROMPT = "invalid_option"


@dataclass(frozen=True, slots=True)
class Choice:
    """What the caller did in one round: the keys ("" for none within the timeout) and
    where they lead (None: nowhere, an invalid choice or no key)."""

    keys: str
    destination: DestinationModel | None = None


async def run(call: CallContext, env: RoutingEnv, ivr: IvrConfig, goto: Goto) -> None:
    """Run menu ``ivr`` on ``call`` until the caller chooses, or the rounds run out."""
    if ivr.diversion is not None:
        call.note(node="ivr", ivr=ivr.name, diversion=describe(ivr.diversion))
        await goto(ivr.diversion)
        return
    await call.answer()
    greeting = menu_greeting(env, ivr.name, ivr.greeting)
    call.note(node="ivr", ivr=ivr.name, greeting=greeting.source, loops=ivr.loops)
    for loop in range(1, ivr.loops + 1):
        choice = await _round(call, env, ivr, greeting.audio)
        if choice.destination is not None:
            _note_choice(call, ivr, loop, choice.keys, choice.destination)
            await goto(choice.destination)
            return
        await _no_choice(call, env, ivr, loop, choice.keys)
    call.note(node="ivr", ivr=ivr.name, after_loops=ivr.loops, to=describe(ivr.after_loops))
    await goto(ivr.after_loops)


async def _round(
    call: CallContext, env: RoutingEnv, ivr: IvrConfig, greeting: Playable | None
) -> Choice:
    key = await call.play(greeting, interrupt_on=ALL_KEYS) if greeting is not None else ""
    if not key:
        key = await call.collect_digits(1, ivr.timeout, terminator="")
    if not key:
        return Choice("")
    keys = await _complete(call, ivr, key)
    return Choice(keys, _destination(env, ivr, keys))


async def _complete(call: CallContext, ivr: IvrConfig, key: str) -> str:
    """The whole choice that starts with ``key`` (more digits only with direct dialling)."""
    if not (ivr.direct_dial and key.isdigit()):
        return key
    return await call.collect_digits(
        MAX_EXTENSION_DIGITS,
        INTER_DIGIT_TIMEOUT,
        terminator=NUMBER_END,
        first_digit=key,
        inter_digit_timeout=INTER_DIGIT_TIMEOUT,
    )


def _destination(env: RoutingEnv, ivr: IvrConfig, keys: str) -> DestinationModel | None:
    if len(keys) == 1:
        return ivr.options.get(keys)
    if keys.isdigit() and env.extension_exists(keys):
        return ToExtension(extension=keys)
    return None


def _note_choice(
    call: CallContext, ivr: IvrConfig, loop: int, keys: str, destination: DestinationModel
) -> None:
    how = {"key": keys} if len(keys) == 1 else {"dialled": keys}
    call.note(node="ivr", ivr=ivr.name, loop=loop, **how, to=describe(destination))


async def _no_choice(
    call: CallContext, env: RoutingEnv, ivr: IvrConfig, loop: int, keys: str
) -> None:
    if not keys:
        call.note(node="ivr", ivr=ivr.name, loop=loop, no_key=ivr.timeout)
        return
    call.note(node="ivr", ivr=ivr.name, loop=loop, invalid=keys)
    custom = playable(env, ivr.invalid) if ivr.invalid is not None else None
    await call.play(custom if custom is not None else INVALID_PROMPT)
