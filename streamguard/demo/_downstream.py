"""The flaky downstream the demo's sink calls: a few random failures, and an outage that
starts shortly after the first call."""

from __future__ import annotations

import asyncio
import random


class DownstreamError(ConnectionError):
    """The downstream refused an order (a 503, say)."""


class FlakyDownstream:
    """Records every distinct order it accepted; fails during its outage and at random.

    Time is the event loop's clock, so the outage is real time, as the demo is.
    """

    def __init__(self, *, outage_start: float, outage: float, failure_rate: float,
                 seed: int, latency: float = 0.002) -> None:
        self._outage_start = outage_start
        self._outage = outage
        self._failure_rate = failure_rate
        self._random = random.Random(seed)
        self._latency = latency
        self._first_call: float | None = None
        self.calls = 0
        self.accepted: set[int] = set()

    def down(self, now: float) -> bool:
        """Whether the outage is on at loop time *now*."""
        if self._first_call is None:
            return False
        since = now - self._first_call
        return self._outage_start <= since < self._outage_start + self._outage

    async def deliver(self, order_id: int) -> None:
        """Accept *order_id*, or raise :class:`DownstreamError`."""
        loop = asyncio.get_running_loop()
        if self._first_call is None:
            self._first_call = loop.time()
        self.calls += 1
        await asyncio.sleep(self._latency)
        if self.down(loop.time()):
            raise DownstreamError("downstream unavailable (outage)")
        if self._random.random() < self._failure_rate:
            raise DownstreamError(f"downstream refused order {order_id}")
        self.accepted.add(order_id)
