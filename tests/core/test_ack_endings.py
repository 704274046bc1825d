"""Every ack settles exactly once when a pipeline ends early (#9 item 3): ``take`` ending it
while upstream stages hold items, and a cancel while items are held or in flight.
Items that were not processed are abandoned (``abandon()``), never left pending."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from streamguard import Emitter, StreamClosedError, WouldBlock, from_iterable
from streamguard import operators as op
from streamguard.core import Operator
from streamguard.testing import AckRecorder, TestSubscriber


async def _never(x: int) -> None:
    await asyncio.Event().wait()


async def _slow(x: int) -> int:
    await asyncio.sleep(0.001)
    return x


def _nothing(x: object) -> None:
    pass


@pytest.mark.parametrize(
    ("ops", "done"),
    [
        ([op.buffer(64), op.take(10)], 10),
        ([op.prefetch(16), op.take(10)], 10),
        ([op.map_async(_slow, concurrency=3), op.take(3)], 3),
    ],
    ids=["buffer|take", "prefetch|take", "map_async|take"],
)
async def test_take_settles_what_upstream_stages_hold(ops: list[Operator[Any, Any]],
                                                      done: int) -> None:
    rec = AckRecorder()
    await from_iterable(range(1000), ack=rec.ack).pipe(*ops, op.sink(_nothing)).run()
    assert rec.settled_exactly_once(), rec.describe()
    assert sum(rec.done.values()) == done
    assert rec.issued > done  # the stages really held more than they delivered
    assert sum(rec.abandoned.values()) == rec.issued - done


@pytest.mark.parametrize(
    "ops",
    [
        [op.sink(_never, concurrency=4)],
        [op.map_async(_never, concurrency=8), op.sink(_nothing)],
        [op.map_async(_never, concurrency=8, ordered=False), op.sink(_nothing)],
        [op.buffer(12), op.sink(_never, concurrency=3)],
        [op.batch(5, timeout=10), op.sink(_never)],
    ],
    ids=["async sink", "map_async", "map_async unordered", "buffer|async sink", "batch"],
)
async def test_cancel_abandons_what_is_held_or_in_flight(ops: list[Operator[Any, Any]]) -> None:
    rec = AckRecorder()
    task = asyncio.create_task(from_iterable(range(1000), ack=rec.ack).pipe(*ops).run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert rec.issued > 0  # held or in flight
    assert not rec.settled()  # nothing finished
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.settled_exactly_once(), rec.describe()
    assert sum(rec.abandoned.values()) == rec.issued


async def test_a_failing_item_fails_and_the_rest_of_its_chunk_is_abandoned() -> None:
    rec = AckRecorder()

    def boom(x: int) -> int:
        if x == 3:
            raise ValueError("bad")
        return x

    with pytest.raises(Exception, match="bad"):
        await from_iterable(range(10), ack=rec.ack).pipe(op.map(boom), op.sink(_nothing)).run()
    assert rec.settled_exactly_once(), rec.describe()
    assert set(rec.done) == {0, 1, 2}
    assert set(rec.failed) == {3}
    assert set(rec.abandoned) == set(range(4, 10))


async def test_async_for_break_abandons_what_was_prefetched() -> None:
    rec = AckRecorder()
    async with from_iterable(range(100), ack=rec.ack).iterate(prefetch=16) as items:
        async for x in items:
            if x == 2:
                break
    assert rec.settled_exactly_once(), rec.describe()
    assert set(rec.done) == {0, 1, 2}
    assert sum(rec.abandoned.values()) == rec.issued - 3


async def test_emitter_abandons_the_ack_of_an_item_it_never_handed_on() -> None:
    # Blocked in emit() when the pipeline is cancelled, emit() after the cancel, emit() and
    # emit_nowait() after complete(), and an emit() whose own task is cancelled: each ack is
    # abandoned, none left pending.
    rec = AckRecorder()
    emitter: Emitter[int] = Emitter(name="orders")
    sub: TestSubscriber[int] = TestSubscriber(initial_request=1)
    emitter.stream().subscribe(sub)
    await emitter.emit(0, ack=rec.ack(0))
    blocked = asyncio.ensure_future(emitter.emit(1, ack=rec.ack(1)))
    await asyncio.sleep(0)
    sub.cancel()
    with pytest.raises(StreamClosedError, match="Emitter 'orders' was cancelled"):
        await blocked
    with pytest.raises(StreamClosedError, match="Emitter 'orders' was cancelled"):
        await emitter.emit(2, ack=rec.ack(2))
    ended: Emitter[int] = Emitter(name="ended")
    ended.complete()
    with pytest.raises(StreamClosedError, match="Emitter 'ended' is closed"):
        await ended.emit(3, ack=rec.ack(3))
    with pytest.raises(StreamClosedError, match="Emitter 'ended' is closed"):
        ended.emit_nowait(4, ack=rec.ack(4))
    idle: Emitter[int] = Emitter(name="idle")
    idle.stream().subscribe(TestSubscriber())
    waiting = asyncio.ensure_future(idle.emit(5, ack=rec.ack(5)))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    with pytest.raises(WouldBlock):  # still the caller's item: its ack is left alone
        idle.emit_nowait(6, ack=rec.ack(6))
    assert rec.abandoned == Counter({1: 1, 2: 1, 3: 1, 4: 1, 5: 1})
    assert rec.settled() == Counter({0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1})  # 6 unsettled
