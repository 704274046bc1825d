"""`Stream.start()` → `Pipeline`: wait, drain(timeout), cancel, done, name — and every ack
settles on each of those endings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamguard import ConfigError, Emitter, Pipeline, from_async_iterable, from_iterable
from streamguard import operators as op
from streamguard.testing import AckRecorder


def _nothing(x: object) -> None:
    pass


async def _endless() -> AsyncIterator[int]:
    i = 0
    while True:
        yield i
        i += 1
        await asyncio.sleep(0)


def _other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_start_returns_a_handle_and_wait_returns_the_result() -> None:
    pipeline = from_iterable(range(10)).pipe(op.sink(_nothing)).start(name="ten")
    assert isinstance(pipeline, Pipeline)
    assert pipeline.name == "ten"
    assert not pipeline.done
    result = await pipeline.wait()
    assert pipeline.done
    assert result.name == "ten"
    assert result.outcome == "completed"
    assert [s.stage for s in result.statistics] == ["sink"]
    assert result.statistics[0].received == 10
    assert await pipeline.wait() == result  # waiting again returns the same result


async def test_run_is_start_and_wait() -> None:
    result = await from_iterable(range(5)).pipe(op.map(str)).run(name="five")
    assert (result.name, result.items, result.outcome) == ("five", 5, "completed")


async def test_drain_stops_the_source_and_lets_in_flight_items_finish() -> None:
    rec = AckRecorder()
    delivered: list[int] = []
    gate = asyncio.Event()

    async def deliver(x: int) -> None:
        await gate.wait()
        delivered.append(x)

    async def endless_with_acks() -> AsyncIterator[int]:
        async for x in _endless():
            yield x

    pipeline = from_async_iterable(endless_with_acks, ack=rec.ack).pipe(
        op.sink(deliver, concurrency=4)).start()
    for _ in range(50):
        await asyncio.sleep(0)
    held = rec.issued
    assert held == 8  # 4 in flight, 4 waiting: the async sink's bound
    draining = pipeline.drain(timeout=10)  # starts at once; awaited below
    for _ in range(10):
        await asyncio.sleep(0)
    assert rec.issued == held  # the source took nothing new
    gate.set()
    result = await draining
    assert result.outcome == "drained"
    assert sorted(delivered) == list(range(held))  # what was in flight finished
    assert rec.completed_exactly_once(range(held))
    assert _other_tasks() == set()


async def test_drain_timeout_cancels_what_is_left_and_abandons_it() -> None:
    rec = AckRecorder()

    async def stuck(x: int) -> None:
        await asyncio.Event().wait()

    pipeline = from_iterable(range(1000), ack=rec.ack).pipe(
        op.buffer(16), op.sink(stuck, concurrency=2)).start()
    for _ in range(20):
        await asyncio.sleep(0)
    result = await pipeline.drain(timeout=0.01)
    assert result.outcome == "drain_expired"
    assert pipeline.done
    assert rec.issued > 0
    assert rec.settled_exactly_once(), rec.describe()
    assert sum(rec.abandoned.values()) == rec.issued
    assert _other_tasks() == set()


async def test_drain_of_a_finished_pipeline_returns_its_result() -> None:
    pipeline = from_iterable(range(3)).start()
    first = await pipeline.wait()
    assert await pipeline.drain(timeout=1) == first


async def test_drain_completes_an_emitter_and_refuses_later_emits() -> None:
    emitter: Emitter[int] = Emitter(name="feed")
    got: list[int] = []
    pipeline = emitter.stream().pipe(op.sink(got.append)).start()
    await emitter.emit(1)
    result = await pipeline.drain(timeout=1)
    assert result.outcome == "drained"
    assert got == [1]
    with pytest.raises(Exception, match="Emitter 'feed' is closed"):
        await emitter.emit(2)


async def test_cancel_stops_at_once_and_abandons_held_and_in_flight_items() -> None:
    rec = AckRecorder()

    async def stuck(x: int) -> int:
        await asyncio.Event().wait()
        return x

    pipeline = from_iterable(range(1000), ack=rec.ack).pipe(
        op.map_async(stuck, concurrency=3), op.sink(_nothing)).start(name="stop")
    for _ in range(20):
        await asyncio.sleep(0)
    pipeline.cancel()
    pipeline.cancel()  # idempotent
    result = await pipeline.wait()
    assert result.outcome == "cancelled"
    assert rec.issued == 6
    assert sum(rec.abandoned.values()) == 6
    assert rec.settled_exactly_once(), rec.describe()


async def test_cancelling_the_waiting_task_cancels_the_pipeline() -> None:
    closed = asyncio.Event()

    async def source() -> AsyncIterator[int]:
        try:
            async for x in _endless():
                yield x
        finally:
            closed.set()

    pipeline = from_async_iterable(source).pipe(op.sink(_nothing)).start()
    waiter = asyncio.create_task(pipeline.wait())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pipeline.done
    assert closed.is_set()


async def test_a_stage_error_is_raised_by_wait_and_drain() -> None:
    def boom(x: int) -> int:
        raise ValueError("bad item")

    pipeline = from_iterable(range(3)).pipe(op.map(boom)).start()
    with pytest.raises(Exception, match="bad item"):
        await pipeline.wait()
    with pytest.raises(Exception, match="bad item"):
        await pipeline.drain(timeout=1)


@pytest.mark.parametrize("bad", [-1, "1", True, float("nan")])
async def test_drain_timeout_is_checked(bad: Any) -> None:
    pipeline = from_iterable(range(3)).start()
    with pytest.raises(ConfigError, match="drain\\(timeout\\) must be a number of seconds >= 0"):
        await pipeline.drain(bad)
    await pipeline.wait()


async def test_breaking_out_of_plain_async_for_closes_the_source_promptly() -> None:
    closed = asyncio.Event()

    async def source() -> AsyncIterator[int]:
        try:
            async for x in _endless():
                yield x
        finally:
            closed.set()

    async for x in from_async_iterable(source).pipe(op.map(str)):
        if x == "3":
            break
    for _ in range(3):
        await asyncio.sleep(0)
    assert closed.is_set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert _other_tasks() == set()


def test_start_outside_an_event_loop_says_how_to_fix_it() -> None:
    with pytest.raises(RuntimeError, match=r"needs a running event loop: call it from a coroutine"):
        from_iterable(range(3)).start()
