"""One-shot timers on an injected clock, for transitions no call will trigger.

A breaker must move from ``OPEN`` to ``HALF_OPEN`` when its time is up even if nobody calls
it: a stage that stopped asking for items makes no next call. The timer runs on the clock's
own ``call_later`` when it has one (a virtual clock fires it from ``advance``/``tick``), on the
event loop for the system clock, and otherwise as a task sleeping on ``clock.sleep``. Without
a running loop there is no timer; the breaker then notices the deadline when next asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from ..core._clock import Clock, MonotonicClock

_log = logging.getLogger("streamguard.breaker")


class TimerHandle(Protocol):
    """Anything that can be cancelled (``asyncio.TimerHandle``, a virtual timer, a task)."""

    def cancel(self) -> Any:
        """Do not fire."""
        ...


def _guarded(callback: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            callback()
        except Exception:
            _log.exception("breaker timer callback %r failed", callback)

    return run


async def _sleep_then(clock: Clock, delay: float, callback: Callable[[], None]) -> None:
    await clock.sleep(delay)
    callback()


def start_timer(clock: Clock, delay: float, callback: Callable[[], None]) -> TimerHandle | None:
    """Call *callback* after *delay* seconds of *clock*; ``None`` if nothing can wait."""
    run = _guarded(callback)
    call_later = getattr(clock, "call_later", None)
    if callable(call_later):
        handle: TimerHandle = call_later(delay, run)
        return handle
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    if isinstance(clock, MonotonicClock):
        return loop.call_later(max(0.0, delay), run)  # loop.time() is this clock
    return loop.create_task(_sleep_then(clock, delay, run), name="streamguard-breaker-timer")
