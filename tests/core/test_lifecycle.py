"""Cancellation, errors and the end of a source shut every stage down and leave no task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from streamguard import Emitter, ItemFailedError, from_async_iterable, from_iterable, to_observable
from streamguard import operators as op


def _double(x: int) -> int:
    return x * 2


def _neg(x: int) -> int:
    return -x


def _endless(closed: asyncio.Event) -> Callable[[], AsyncIterator[int]]:
    """An endless async generator function that sets *closed* when it is cleaned up."""

    async def endless() -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
                await asyncio.sleep(0)
        finally:
            closed.set()

    return endless


def _other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_cancelling_run_cleans_up_sources_and_tasks() -> None:
    closed = asyncio.Event()
    endless = _endless(closed)

    async def slow(x: int) -> int:
        await asyncio.sleep(10)
        return x

    task = asyncio.create_task(from_async_iterable(endless).pipe(
        op.buffer(8), op.map_async(slow, concurrency=4), op.batch(5, timeout=0.5),
        op.sink(print)).run())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()
    assert _other_tasks() == set()


async def test_error_in_a_stage_stops_every_stage() -> None:
    cleaned = asyncio.Event()

    async def source() -> Any:
        try:
            for i in range(1000):
                yield i
        finally:
            cleaned.set()

    async def slow(x: int) -> int:
        await asyncio.sleep(0.001)
        return x

    def boom(x: int) -> int:
        if x == 50:
            raise RuntimeError("bad item")
        return x

    with pytest.raises(ItemFailedError, match="bad item"):
        await from_async_iterable(source).pipe(
            op.map_async(slow, concurrency=8), op.map(boom), op.buffer(4)).run()
    assert cleaned.is_set()
    assert _other_tasks() == set()


async def test_end_of_source_completes_and_leaves_nothing() -> None:
    async def work(x: int) -> int:
        await asyncio.sleep(0)
        return x

    result = await from_iterable(range(100)).pipe(
        op.map_async(work, concurrency=10), op.batch(7, timeout=1.0), op.sink(lambda b: None)
    ).run(name="done")
    assert result.name == "done"
    assert _other_tasks() == set()
    assert [s.stage for s in result.statistics] == ["map_async", "batch", "sink"]


async def test_breaking_out_of_async_for_cancels_the_pipeline() -> None:
    closed = asyncio.Event()
    endless = _endless(closed)

    seen = []
    async with from_async_iterable(endless).pipe(op.map(_double)).iterate() as items:
        async for x in items:
            seen.append(x)
            if len(seen) == 5:
                break
    assert seen == [0, 2, 4, 6, 8]
    await asyncio.sleep(0)
    assert closed.is_set()
    assert _other_tasks() == set()


async def test_plain_async_for() -> None:
    assert [x async for x in from_iterable(range(5)).pipe(op.map(_neg))] == [0, -1, -2, -3, -4]


async def test_emitter_pipeline_completes() -> None:
    emitter: Emitter[int] = Emitter()
    got: list[int] = []
    task = asyncio.create_task(emitter.stream().pipe(op.buffer(2), op.sink(got.append)).run())
    for i in range(20):
        await emitter.emit(i)
    emitter.complete()
    await task
    assert got == list(range(20))


async def test_to_observable_dispose_cancels() -> None:
    closed = asyncio.Event()
    endless = _endless(closed)

    seen: list[int] = []
    disposable = to_observable(from_async_iterable(endless)).subscribe(on_next=seen.append)
    await asyncio.sleep(0.01)
    disposable.dispose()
    await asyncio.sleep(0.01)
    assert closed.is_set()
    assert seen[:3] == [0, 1, 2]


async def test_stage_names_are_unique_within_a_pipeline() -> None:
    result = await from_iterable(range(3)).pipe(
        op.map(_double), op.map(_neg), op.map(_double, name="scale")).run()
    names = [s.stage for s in result.statistics]
    assert len(set(names)) == 3
    assert "scale" in names
    assert {n for n in names if n != "scale"} == {"map", "map-2"}
