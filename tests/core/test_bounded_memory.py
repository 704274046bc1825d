"""A source able to produce 10 million items feeding a much slower sink: items produced but
not yet completed never exceed the sum of the configured buffer sizes, and memory stays flat."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator

import pytest

from streamguard import from_iterable
from streamguard import operators as op

TEN_MILLION = 10_000_000


class Ledger:
    """Counts produced and completed items; tracks the peak of the difference."""

    def __init__(self) -> None:
        self.produced = 0
        self.completed = 0
        self.peak_open = 0

    def items(self) -> Iterator[int]:
        for i in range(TEN_MILLION):
            self.produced += 1
            self.peak_open = max(self.peak_open, self.produced - self.completed)
            yield i

    def ack(self, _item: int) -> Ledger._Ack:
        return Ledger._Ack(self)

    class _Ack:
        __slots__ = ("ledger",)

        def __init__(self, ledger: Ledger) -> None:
            self.ledger = ledger

        def done(self) -> None:
            self.ledger.completed += 1

        def fail(self, error: BaseException) -> None:
            raise AssertionError(f"no item should fail: {error!r}")

        def abandon(self) -> None:
            self.ledger.completed += 1  # cancelled at the end of the test: no longer open


@pytest.mark.slow
async def test_slow_sink_bounds_open_items_and_memory() -> None:
    ledger = Ledger()
    delivered = 0
    samples: list[int] = []

    async def slow_sink(_x: int) -> None:
        nonlocal delivered
        # Three loop turns per item: orders of magnitude slower than the generator.
        for _ in range(3):
            await asyncio.sleep(0)
        delivered += 1
        if delivered in (2_000, 6_000, 10_000):
            samples.append(tracemalloc.get_traced_memory()[0])

    async def fast(x: int) -> int:
        return x

    # The documented bound of each stage: prefetch(n) and buffer(n) hold n items, a concurrent
    # stage (map_async, async sink) 2 x concurrency.
    capacities = {"prefetch": 64, "map_async": 2 * 8, "buffer": 32, "sink": 2 * 4}
    tracemalloc.start()
    try:
        task = asyncio.create_task(
            from_iterable(ledger.items(), ack=ledger.ack).pipe(
                op.prefetch(capacities["prefetch"]),
                op.map_async(fast, concurrency=8),
                op.buffer(capacities["buffer"]),
                op.sink(slow_sink, concurrency=4),
            ).run())
        while len(samples) < 3:
            await asyncio.sleep(0.05)
            assert not task.done(), task
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        tracemalloc.stop()

    assert ledger.produced < TEN_MILLION // 100  # it really was throttled by the sink
    assert ledger.peak_open <= sum(capacities.values())
    growth = samples[-1] - samples[0]
    # 8,000 more items went through between the samples; a leak of even 32 bytes per item
    # would show as 256 KB.
    assert growth < 128 * 1024, f"memory grew by {growth} bytes over 8,000 items"
