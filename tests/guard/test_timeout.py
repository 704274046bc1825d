"""The guarded sink's per-call timeout: one timer for every call in flight (#11), exact
TimeoutError semantics, and a cancellation from outside never taken for a timeout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard.core import ItemFailedError
from streamguard.guard import guarded_sink
from streamguard.testing import VirtualClock


class CountingClock(VirtualClock):
    """A virtual clock that counts the timers scheduled on it."""

    def __init__(self) -> None:
        super().__init__()
        self.timers = 0

    def call_later(self, delay: float, callback: Any) -> Any:
        self.timers += 1
        return super().call_later(delay, callback)


async def test_calls_that_end_in_time_share_one_timer() -> None:
    clock = CountingClock()
    done: list[int] = []

    async def quick(item: int) -> None:
        await asyncio.sleep(0)
        done.append(item)

    await from_iterable(range(500)).pipe(guarded_sink(
        quick, timeout=5.0, concurrency=16, clock=clock)).run()
    assert len(done) == 500
    assert clock.timers == 1  # asyncio.timeout would have made 500


async def test_an_overdue_call_times_out_after_exactly_its_timeout() -> None:
    clock = VirtualClock()
    seen: list[tuple[int, str, float]] = []

    async def slow(item: int) -> None:
        await clock.sleep(10 if item == 1 else 0.5)

    def park(item: int, error: BaseException) -> None:
        seen.append((item, type(error).__name__, clock.now()))

    run = asyncio.create_task(from_iterable(range(3)).pipe(guarded_sink(
        slow, timeout=2.0, concurrency=3, dead_letter=park, clock=clock)).run())
    for _ in range(4):
        await clock.advance(0.5)
    await run
    assert seen == [(1, "TimeoutError", 2.0)]


async def test_later_deadlines_are_rearmed_after_the_first_fires() -> None:
    clock = VirtualClock()
    seen: list[tuple[int, float]] = []

    async def hang(item: int) -> None:
        await clock.sleep(100)

    run = asyncio.create_task(from_iterable(range(3), chunk_size=1).pipe(guarded_sink(
        hang, timeout=1.0, concurrency=1,
        dead_letter=lambda item, error: seen.append((item, clock.now())),
        clock=clock)).run())
    for _ in range(6):
        await clock.advance(0.5)
    await run
    assert seen == [(0, 1.0), (1, 2.0), (2, 3.0)]


async def test_a_cancellation_from_outside_is_not_a_timeout() -> None:
    clock = VirtualClock()
    started = asyncio.Event()

    async def hang(item: int) -> None:
        started.set()
        await clock.sleep(100)

    parked: list[Any] = []
    run = asyncio.create_task(from_iterable(range(1)).pipe(guarded_sink(
        hang, timeout=1.0, dead_letter=lambda i, e: parked.append(e), clock=clock)).run())
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await clock.advance(2)  # the deadline passes after the cancel: nothing happens
    assert parked == []


async def test_a_timeout_without_a_dead_letter_fails_the_stream_with_timeout_error() -> None:
    clock = VirtualClock()

    async def hang(item: int) -> None:
        await clock.sleep(100)

    run = asyncio.create_task(from_iterable(range(1)).pipe(guarded_sink(
        hang, timeout=1.0, clock=clock)).run())
    await clock.advance(1)
    with pytest.raises(ItemFailedError) as info:
        await run
    delivery = info.value.__cause__
    assert delivery is not None
    assert isinstance(delivery.__cause__, TimeoutError)


async def test_on_the_system_clock_the_timer_is_the_loop_s() -> None:
    parked: list[Any] = []

    async def hang(item: int) -> None:
        await asyncio.sleep(30)

    async def quick(item: int) -> None:
        await asyncio.sleep(0)

    await from_iterable(range(2)).pipe(guarded_sink(
        hang, timeout=0.01, concurrency=2,
        dead_letter=lambda i, e: parked.append(type(e)))).run()
    assert parked == [TimeoutError, TimeoutError]
    await from_iterable(range(100)).pipe(guarded_sink(quick, timeout=0.5, concurrency=4)).run()
