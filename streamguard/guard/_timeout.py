"""A per-call deadline on an injected clock.

On the system clock this is :func:`asyncio.timeout`. On another clock (a test's virtual
clock) the same timeout is armed without a deadline and moved to "now" when the clock's
``sleep`` returns, so the call is cancelled and :class:`TimeoutError` raised exactly as
asyncio does it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ..core._clock import Clock, MonotonicClock


@contextlib.asynccontextmanager
async def deadline(clock: Clock, seconds: float | None) -> AsyncIterator[None]:
    """Raise :class:`TimeoutError` if the block runs longer than *seconds* of *clock*."""
    if seconds is None:
        yield
        return
    if isinstance(clock, MonotonicClock):
        async with asyncio.timeout(seconds):
            yield
        return
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(None) as timeout:
        live = True

        def expire(task: asyncio.Task[None]) -> None:
            if live and not task.cancelled():
                timeout.reschedule(loop.time())

        waker = loop.create_task(clock.sleep(seconds))
        waker.add_done_callback(expire)
        try:
            yield
        finally:
            live = False
            waker.cancel()
