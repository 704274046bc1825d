"""One re-armable timer on an injected clock, shared by the time operators.

A time operator must act when no signal arrives (a debounce period ends, a window closes,
a timeout expires), so it needs a timer, and the timer must run on the operator's clock: a
:class:`~streamguard.testing.VirtualClock` fires it from ``advance`` (tests never sleep), the
system clock through ``loop.call_later`` (no task per timer), any other clock through a task
sleeping on ``clock.sleep``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ..core._clock import SYSTEM_CLOCK, Clock, MonotonicClock


class _Cancellable(Protocol):
    def cancel(self) -> Any: ...


async def _sleep_then(clock: Clock, delay: float, callback: Callable[[], None]) -> None:
    await clock.sleep(delay)
    callback()


class Timer:
    """Calls *callback* at the time last set with :meth:`at`; re-arming replaces the previous
    deadline. *spawn* starts a task owned by the pipeline (only for clocks that can merely
    ``sleep``)."""

    __slots__ = ("_callback", "_clock", "_handle", "_spawn", "when")

    def __init__(
        self, clock: Clock | None, callback: Callable[[], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
    ) -> None:
        self._clock = clock or SYSTEM_CLOCK
        self._callback = callback
        self._spawn = spawn
        self._handle: _Cancellable | None = None
        self.when: float | None = None

    def now(self) -> float:
        """The clock's time."""
        return self._clock.now()

    @property
    def armed(self) -> bool:
        """True while a deadline is set."""
        return self.when is not None

    def at(self, when: float) -> None:
        """Fire at *when* (clock time), replacing any earlier deadline."""
        if self.when == when and self._handle is not None:
            return
        self.cancel()
        self.when = when
        delay = max(0.0, when - self._clock.now())
        call_later = getattr(self._clock, "call_later", None)
        if callable(call_later):
            self._handle = call_later(delay, self._fire)
        elif isinstance(self._clock, MonotonicClock):
            self._handle = asyncio.get_running_loop().call_later(delay, self._fire)
        else:
            self._handle = self._spawn(_sleep_then(self._clock, delay, self._fire))

    def after(self, delay: float) -> None:
        """Fire *delay* seconds from now."""
        self.at(self._clock.now() + delay)

    def cancel(self) -> None:
        """Do not fire (idempotent)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.when = None

    def _fire(self) -> None:
        self._handle = None
        self.when = None
        self._callback()


def next_tick(start: float, period: float, now: float, last: int) -> int:
    """The number of the next periodic tick (due at ``start + k × period``): after *last*,
    and due after *now* — a late timer skips the ticks it missed. Integer tick numbers keep
    float error from ever scheduling a tick at the instant that just fired."""
    k = last + 1
    behind = int((now - start) / period)
    return max(k, behind + 1) if start + k * period <= now else k
