"""Timers on an injected clock, for the breaker, its shared-state link and the guarded sink.

A breaker must move from OPEN to HALF_OPEN when its time is up even if nobody calls it: a
stage that stopped asking for items makes no next call. The timer runs on the clock's own
`call_later` when it has one (a virtual clock fires it from advance/tick), on the event loop
for the system clock, and otherwise as a task sleeping on `clock.sleep`. Without a running
loop there is no timer; the breaker then notices the deadline when next asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from ..core._clock import Clock, MonotonicClock

_log = logging.getLogger("streamguard.breaker")


class Timer(Protocol):
    """Anything that can be cancelled (``asyncio.TimerHandle``, a virtual timer, a task)."""

    def cancel(self) -> Any:
        """Do not fire."""
        ...


def _logged(callback: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            callback()
        except Exception:
            _log.exception("breaker timer callback %r failed", callback)

    return run


async def _sleep_then(clock: Clock, delay: float, callback: Callable[[], None]) -> None:
    await clock.sleep(delay)
    callback()


def start_timer(clock: Clock, delay: float, callback: Callable[[], object]) -> Timer | None:
    """Call *callback* after *delay* seconds of *clock*; ``None`` if nothing can wait."""
    run = _logged(callback)
    call_later = getattr(clock, "call_later", None)
    if callable(call_later):
        handle: Timer = call_later(delay, run)
        return handle
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    if isinstance(clock, MonotonicClock):
        return loop.call_later(max(0.0, delay), run)  # loop.time() is this clock
    return loop.create_task(_sleep_then(clock, delay, run), name="streamguard-breaker-timer")


def resolve(waiter: asyncio.Future[None]) -> None:
    """Wake *waiter* unless it is already done (woken, timed out or cancelled)."""
    if not waiter.done():
        waiter.set_result(None)
