"""`VirtualClock`: time that moves only when a test says so."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable


class VirtualTimer:
    """A callback scheduled on a :class:`VirtualClock`; :meth:`cancel` stops it."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True


class VirtualClock:
    """A :class:`~streamguard.core.Clock` for tests: ``now()`` changes only on ``advance``.

    ``await clock.sleep(d)`` waits until a test advances the clock past its deadline;
    :meth:`call_later` schedules plain callbacks the same way. Nothing ever sleeps for real.

    Example::

        clock = VirtualClock()
        clock.tick(1.5)            # pure time, for synchronous algorithms
        await clock.advance(30)    # also wakes sleepers and timers that fall due, in order
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, VirtualTimer]] = []

    def now(self) -> float:
        """Return the virtual time in seconds."""
        return self._now

    def tick(self, delta: float) -> None:
        """Move time forward by *delta* without running anything (for synchronous code)."""
        if delta < 0:
            raise ValueError(f"time cannot go backwards: delta must be >= 0, got {delta!r}")
        self._now += delta
        self._fire_due()

    def call_later(self, delay: float, callback: Callable[[], None]) -> VirtualTimer:
        """Run *callback* once the clock reaches ``now() + delay``."""
        timer = VirtualTimer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    async def sleep(self, delay: float) -> None:
        """Wait until the clock is advanced by at least *delay*."""
        if delay <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_later(delay, wake)
        try:
            await fut
        finally:
            timer.cancel()

    async def advance(self, delta: float, *, settle: int = 5) -> None:
        """Move time forward by *delta*, firing due timers in order and letting the tasks
        they wake run (*settle* loop iterations after each) before time moves on."""
        if delta < 0:
            raise ValueError(f"time cannot go backwards: delta must be >= 0, got {delta!r}")
        target = self._now + delta
        await _settle(settle)
        while self._heap and self._heap[0][0] <= target:
            when, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            if not timer.cancelled:
                timer.callback()
                await _settle(settle)
        self._now = target
        await _settle(settle)

    @property
    def pending_timers(self) -> int:
        """How many timers and sleepers are waiting."""
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def _fire_due(self) -> None:
        while self._heap and self._heap[0][0] <= self._now:
            _, _, timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                timer.callback()


async def _settle(iterations: int) -> None:
    for _ in range(iterations):
        await asyncio.sleep(0)
