"""The breaker around async calls: decorator, ``call()`` and ``async with``."""

from __future__ import annotations

import asyncio
import re

import pytest

from streamguard.breaker import (
    BreakerConfig,
    CallIgnored,
    CircuitBreaker,
    CircuitOpenError,
    StaleResultIgnored,
    State,
)
from streamguard.core import EventBus
from streamguard.testing import VirtualClock

from .test_breaker import Recorder, now

TINY = BreakerConfig(window_size=2, minimum_calls=2, failure_rate_threshold=1.0, open_duration=10)


def make(config: BreakerConfig = TINY) -> tuple[CircuitBreaker, VirtualClock, Recorder]:
    clock, bus = VirtualClock(), EventBus()
    return CircuitBreaker("api", config, clock=clock, bus=bus), clock, Recorder(bus)


async def test_decorator_passes_results_and_errors_through() -> None:
    b, _, _ = make()
    calls: list[int] = []

    @b
    async def double(x: int) -> int:
        calls.append(x)
        if x < 0:
            raise ValueError(f"negative: {x}")
        return 2 * x

    assert await double(21) == 42
    assert double.__name__ == "double"
    with pytest.raises(ValueError, match="negative: -1"):
        await double(-1)
    with pytest.raises(ValueError, match="negative: -2"):
        await double(-2)
    assert now(b) is State.OPEN
    with pytest.raises(CircuitOpenError, match=r"^CircuitBreaker 'api' is OPEN"):
        await double(5)
    assert calls == [21, -1, -2]  # the refused call was not made


def test_decorator_rejects_plain_functions() -> None:
    b, _, _ = make()
    with pytest.raises(TypeError, match=re.escape(
            "CircuitBreaker 'api' can only decorate an async function, got plain callable "
            "<built-in function len>; define it with `async def`")):
        b(len)  # type: ignore[arg-type]


async def test_call_refuses_a_plain_function_before_calling_it() -> None:
    b, _, _ = make()
    calls: list[int] = []

    def post(order: int) -> None:
        calls.append(order)

    with pytest.raises(TypeError, match=re.escape(
            "CircuitBreaker 'api' can only call an async function, got plain callable")):
        await b.call(post, 1)  # type: ignore[arg-type]
    assert calls == []
    assert b.statistics().calls == 0


async def test_call_guards_any_awaitable_function() -> None:
    b, _, _ = make()

    async def boom() -> None:
        raise ConnectionError("down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await b.call(boom)
    with pytest.raises(CircuitOpenError):
        await b.call(boom)


async def test_cancellation_propagates_and_does_not_count() -> None:
    b, _, rec = make()
    started = asyncio.Event()

    @b
    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    for _ in range(3):
        task = asyncio.create_task(hang())
        await started.wait()
        started.clear()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert now(b) is State.CLOSED
    assert b.statistics().calls == 0
    assert [e.reason for e in rec.of(CallIgnored)] == ["cancelled"] * 3


async def test_slow_calls_are_timed_on_the_clock() -> None:
    b, clock, _ = make(BreakerConfig(window_size=2, minimum_calls=2, slow_call_duration=1.0))

    @b
    async def slow() -> str:
        await clock.sleep(3)
        return "late"

    for _ in range(2):
        task = asyncio.create_task(slow())
        await clock.advance(3)
        assert await task == "late"
    assert now(b) is State.OPEN
    with pytest.raises(CircuitOpenError):
        await slow()  # refused before the coroutine runs; it is closed, not leaked


async def test_context_manager_counts_and_never_suppresses() -> None:
    b, _, _ = make()
    async with b:
        pass
    for _ in range(2):
        with pytest.raises(KeyError):
            async with b:
                raise KeyError("k")
    assert now(b) is State.OPEN
    with pytest.raises(CircuitOpenError):
        async with b:
            raise AssertionError("not reached")


async def test_context_manager_call_from_before_the_opening_is_stale() -> None:
    b, clock, rec = make()
    release = asyncio.Event()

    async def old_call() -> None:
        async with b:
            await release.wait()
            raise TimeoutError("answered far too late")

    old = asyncio.create_task(old_call())
    await asyncio.sleep(0)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            async with b:
                raise ConnectionError("down")
    await clock.advance(10)
    assert now(b) is State.HALF_OPEN

    async with b:  # the probe: while the old call is pending, its permit is kept per task
        release.set()
        with pytest.raises(TimeoutError):
            await old
    assert rec.of(StaleResultIgnored)[0].permit == 0
    assert now(b) is State.CLOSED  # the old failure did not count against the probe


async def test_context_manager_under_concurrency_in_half_open() -> None:
    b, clock, _ = make(BreakerConfig(window_size=1, minimum_calls=1, half_open_probes=2,
                                     half_open_successes=2, open_duration=1))
    with pytest.raises(OSError, match="down"):
        async with b:
            raise OSError("down")
    await clock.advance(1)
    gate = asyncio.Event()
    results: list[str] = []

    async def probe(i: int) -> None:
        try:
            async with b:
                await gate.wait()
                results.append(f"probe {i}")
        except CircuitOpenError:
            results.append(f"refused {i}")

    tasks = [asyncio.create_task(probe(i)) for i in range(3)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    assert sorted(results) == ["probe 0", "probe 1", "refused 2"]
    assert now(b) is State.CLOSED
    assert b._held == {}
