"""`ConcurrentStage`'s protected API, as a subclass (the guarded sink, the lag throttle) uses it:
the `_may_request()` hook, `_request_more()`, the counts, REJECTED — and c long-lived workers,
never a task per item."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import ConcurrentStage, lift
from streamguard.testing import AckRecorder


class Gated(ConcurrentStage[int, int]):
    """Passes items through while its gate is open; odd items are routed elsewhere."""

    def __init__(self, down: Any) -> None:
        super().__init__(down, concurrency=2, ordered=True, on_error="fail", name="gated")
        self.open = False
        self.seen: list[tuple[int, int, bool]] = []

    def _may_request(self) -> bool:
        self.seen.append((self._in_flight_count, self._outstanding_count, self._has_started))
        return self.open

    async def process(self, item: int) -> int:
        await asyncio.sleep(0)
        return ConcurrentStage.REJECTED if item % 2 else item


async def test_may_request_holds_upstream_until_request_more() -> None:
    rec = AckRecorder()
    stages: list[Gated] = []

    def make(down: Any) -> Gated:
        stages.append(Gated(down))
        return stages[-1]

    task = asyncio.create_task(from_iterable(range(10), ack=rec.ack).pipe(
        lift(make), op.sink(lambda x: None)).run())
    for _ in range(10):
        await asyncio.sleep(0)
    stage = stages[0]
    assert rec.issued == 0  # the hook said no: nothing was requested
    assert stage.seen
    assert stage.seen[-1] == (0, 0, True)
    stage.open = True
    stage._request_more()
    result = await task
    assert rec.completed_exactly_once(range(10))
    stats = result.statistics[0]
    assert (stats.received, stats.emitted, stats.rejected) == (10, 5, 5)
    assert stage._is_upstream_done


async def test_workers_are_long_lived_not_one_task_per_item() -> None:
    loop = asyncio.get_running_loop()
    assert loop.get_task_factory() is None
    created = 0

    def counting(loop: Any, coro: Any, **kwargs: Any) -> Any:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def work(x: int) -> int:
        await asyncio.sleep(0)
        return x

    loop.set_task_factory(counting)
    try:
        out = await from_iterable(range(2_000)).pipe(
            op.map_async(work, concurrency=8, ordered=False)).to_list()
    finally:
        loop.set_task_factory(None)
    assert sorted(out) == list(range(2_000))
    assert created <= 8 + 1  # the 8 workers and the pipeline's supervisor, not 2,000


class OrderedSink(ConcurrentStage[int, Any]):
    """A sink subclass on the ordered workers; item 2's process forgets an `await` and takes
    longer than item 3, which waits as an early result."""

    def __init__(self, down: Any) -> None:
        super().__init__(down, concurrency=2, ordered=True, on_error="fail", name="ordered",
                         emits=False)
        self.stored: list[int] = []

    async def _store(self, item: int) -> None:
        self.stored.append(item)

    async def process(self, item: int) -> Any:
        if item == 2:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            return self._store(item)
        await self._store(item)
        return None


async def test_an_ordered_sink_refuses_an_awaitable_result_and_abandons_early_ones() -> None:
    rec = AckRecorder()
    stages: list[OrderedSink] = []

    def make(down: Any) -> OrderedSink:
        stages.append(OrderedSink(down))
        return stages[-1]

    with pytest.raises(TypeError, match=r"^ConcurrentStage: process must not return an "
                                        r"awaitable .*OrderedSink\.process; await it inside"):
        await from_iterable(range(6), ack=rec.ack).pipe(lift(make, ends=True)).run()
    assert 2 not in stages[0].stored
    assert 3 in stages[0].stored  # finished early, waiting for item 2 ...
    assert (rec.done, rec.failed) == ({0: 1, 1: 1}, {2: 1})  # ... and never acked done
    assert rec.settled_exactly_once()
