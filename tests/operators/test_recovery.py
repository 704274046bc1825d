"""on_error_resume and retry: switching upstreams, demand carried over, backoff on the
injected clock, attempts and budget."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamguard import from_async_iterable, from_iterable
from streamguard import operators as op
from streamguard.retry import BudgetConfig, Retry, RetryBudget, RetryConfig, RetryError
from streamguard.testing import TestSubscriber, VirtualClock

from ._support import settle


async def _failing(n: int, error: Exception) -> Any:
    for i in range(n):
        yield i
    raise error


def _source(n: int, error: Exception) -> Any:
    return from_async_iterable(lambda: _failing(n, error))


async def test_on_error_resume_switches_to_the_fallback() -> None:
    seen: list[Exception] = []

    def fallback(error: Exception) -> Any:
        seen.append(error)
        return from_iterable(["cached-1", "cached-2"])

    got = await _source(3, ConnectionError("feed down")).pipe(
        op.on_error_resume(fallback)).to_list()
    assert got == [0, 1, 2, "cached-1", "cached-2"]
    assert [str(e) for e in seen] == ["feed down"]


async def test_on_error_resume_carries_demand_over() -> None:
    sub: TestSubscriber[Any] = TestSubscriber()
    _source(2, ConnectionError("x")).pipe(
        op.on_error_resume(lambda e: from_iterable(range(100, 200)))).subscribe(sub)
    sub.request(5)
    await settle()
    assert sub.items == [0, 1, 100, 101, 102]
    assert sub.violations == []
    sub.cancel()


async def test_on_error_resume_passes_other_errors_and_fallback_errors() -> None:
    with pytest.raises(KeyError):
        await _source(1, KeyError("k")).pipe(
            op.on_error_resume(lambda e: from_iterable([1]), errors=(ConnectionError,))).run()
    with pytest.raises(ValueError, match="fallback broke"):
        await _source(1, ConnectionError("x")).pipe(
            op.on_error_resume(lambda e: _source(0, ValueError("fallback broke")))).run()


async def test_retry_resubscribes_after_the_backoff_on_the_injected_clock() -> None:
    clock = VirtualClock()
    subscriptions = 0

    async def feed() -> Any:
        nonlocal subscriptions
        subscriptions += 1
        yield subscriptions
        if subscriptions < 3:
            raise ConnectionError("dropped")

    policy = Retry("feed", RetryConfig(attempts=5, backoff="exponential", base_delay=1.0),
                   clock=clock)
    task = asyncio.ensure_future(from_async_iterable(feed).pipe(op.retry(policy)).to_list())
    await settle()
    assert subscriptions == 1
    await clock.advance(0.99)
    assert subscriptions == 1  # first backoff: 1 s
    await clock.advance(0.02)
    assert subscriptions == 2
    await clock.advance(1.9)
    assert subscriptions == 2  # second backoff: 2 s
    await clock.advance(0.2)
    assert subscriptions == 3
    assert await asyncio.wait_for(task, 5) == [1, 2, 3]


async def test_retry_gives_up_after_attempts_with_the_last_error() -> None:
    clock = VirtualClock()
    policy = Retry("feed", RetryConfig(attempts=2, backoff="exponential", base_delay=1.0),
                   clock=clock)
    task = asyncio.ensure_future(_source(1, ConnectionError("down")).pipe(
        op.retry(policy)).to_list())
    await settle()
    await clock.advance(1.0)
    with pytest.raises(RetryError, match=r"after 2 attempts \(attempts exhausted\): "
                                         r"ConnectionError: down"):
        await asyncio.wait_for(task, 5)


async def test_retry_never_retries_programming_errors_or_spends_past_the_budget() -> None:
    with pytest.raises(TypeError):
        await _source(0, TypeError("bug")).pipe(op.retry(Retry(
            "feed", RetryConfig(retry_on=(ConnectionError,))))).run()
    clock = VirtualClock()
    budget = RetryBudget(BudgetConfig(ratio=0.0, min_per_second=0.0), clock=clock)
    policy = Retry("feed", RetryConfig(attempts=5), budget=budget, clock=clock)
    with pytest.raises(RetryError, match="retry budget exhausted"):
        await _source(0, ConnectionError("down")).pipe(op.retry(policy)).run()


async def test_retry_cancel_during_backoff_stops_the_wait() -> None:
    clock = VirtualClock()
    policy = Retry("feed", RetryConfig(attempts=5, base_delay=10.0), clock=clock)
    sub: TestSubscriber[int] = TestSubscriber(initial_request=10)
    _source(1, ConnectionError("x")).pipe(op.retry(policy)).subscribe(sub)
    await settle()
    assert sub.items == [0]
    assert clock.pending_timers == 1
    sub.cancel()
    await settle()
    assert clock.pending_timers == 0
    assert not sub.terminated
