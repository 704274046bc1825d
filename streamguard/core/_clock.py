"""Time as an injected dependency.

Algorithms read time through a :class:`Clock`, so unit tests drive them with a
:class:`~streamguard.testing.VirtualClock` and never sleep.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock in seconds that can also wait."""

    def now(self) -> float:
        """Return the current monotonic time in seconds."""
        ...

    async def sleep(self, delay: float) -> None:
        """Wait for *delay* seconds of this clock's time."""
        ...


class MonotonicClock:
    """The event loop's monotonic clock (``loop.time()``), or ``time.monotonic`` without a loop.

    Waiting uses :func:`asyncio.sleep`, which is scheduled on the same clock.
    """

    __slots__ = ()

    def now(self) -> float:
        """Return the running loop's time, falling back to :func:`time.monotonic`."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    async def sleep(self, delay: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, delay))


SYSTEM_CLOCK = MonotonicClock()
"""The default clock of every streamguard component."""
