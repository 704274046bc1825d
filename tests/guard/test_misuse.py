"""Misuse refused when the pipeline is built, and programming errors never retried (#9, item 4).

The finding: ``guarded_sink(post)`` with a plain ``def post`` called ``post``, then failed on
``await None`` with a TypeError that was retried — with a breaker, retries and a dead-letter
sink the run never finished, and item 1 was called 31 times in 3 s.
"""

from __future__ import annotations

import asyncio
import functools
import re
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard.breaker import BreakerConfig, CircuitBreaker
from streamguard.core import ConfigError, EventBus, ItemFailedError
from streamguard.guard import DeliveryError, guarded_sink
from streamguard.retry import Retry, RetryConfig, RetryError
from streamguard.testing import VirtualClock


def test_a_plain_function_is_refused_when_the_pipeline_is_built() -> None:
    calls: list[int] = []

    def post(order: int) -> None:
        calls.append(order)

    with pytest.raises(TypeError, match=re.escape(
            "guarded_sink awaits call(item) for every item, but "
            "test_a_plain_function_is_refused_when_the_pipeline_is_built.<locals>.post is a "
            "plain function (calling it would run it, then fail on `await`); define it with "
            "`async def post(item)`, and run blocking work inside it with "
            "`await asyncio.to_thread(...)`")):
        guarded_sink(post, breaker=CircuitBreaker("orders"),  # type: ignore[arg-type]
                     retry=RetryConfig(attempts=3), dead_letter=lambda i, e: None)
    assert calls == []


@pytest.mark.parametrize("call", [
    print, len, lambda item: asyncio.sleep(0), functools.partial(print, "x"),
])
def test_other_sync_callables_are_refused_too(call: Any) -> None:
    with pytest.raises(TypeError, match="is a plain function"):
        guarded_sink(call)


async def _post(item: int) -> None:
    pass


class _AsyncCallable:
    async def __call__(self, item: int) -> None:
        pass

    async def method(self, item: int) -> None:
        pass


@pytest.mark.parametrize("call", [
    _post, functools.partial(_post), _AsyncCallable(), _AsyncCallable().method,
    CircuitBreaker("decorated")(_post), Retry("decorated")(_post),
])
def test_async_callables_of_every_shape_are_accepted(call: Any) -> None:
    guarded_sink(call)


def test_a_sync_callable_where_one_is_expected_is_accepted() -> None:
    # dead_letter and fallback take a sync or an async (item, error) callable:
    # KafkaSource.dead_letter is sync, a write to a database is async.
    parked: list[Any] = []

    async def park(item: Any, error: BaseException) -> None:
        parked.append(item)

    guarded_sink(_post, dead_letter=lambda item, error: parked.append(item))
    guarded_sink(_post, dead_letter=park, on_open="fallback", fallback=park)


@pytest.mark.parametrize("field", ["dead_letter", "fallback"])
def test_a_callback_that_cannot_take_item_and_error_is_refused(field: str) -> None:
    def one(record: Any) -> None:
        pass

    options: dict[str, Any] = {field: one}
    with pytest.raises(TypeError, match=re.escape(
            f"guarded_sink({field}=...) calls {field}(item, error) with the item first, but ")):
        guarded_sink(_post, on_open="fallback" if field == "fallback" else "backpressure",
                     **options)


@pytest.mark.parametrize(("field", "value"), [
    ("concurrency", True), ("concurrency", None), ("concurrency", 2.0),
    ("timeout", "1"), ("timeout", True), ("timeout", float("nan")),
    ("on_open", None), ("breaker", "orders"), ("retry", {"attempts": 3}),
    ("name", ""), ("name", 3),
])
def test_a_wrong_type_names_the_field_and_the_value(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"^guarded_sink: {re.escape(field)} must be .*, got "
                                          f"{re.escape(repr(value))}$"):
        guarded_sink(_post, **{field: value})


class Buggy:
    """A downstream call with a bug: it raises a TypeError on every call."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, item: int) -> None:
        self.calls += 1
        raise TypeError(f"unsupported operand type(s) for +: 'int' and 'str' (item {item})")


async def test_a_programming_error_is_dead_lettered_after_one_try() -> None:
    clock, bus = VirtualClock(), EventBus()
    breaker = CircuitBreaker("orders", BreakerConfig(window_size=100, minimum_calls=100),
                             clock=clock, bus=bus)
    call, parked = Buggy(), []
    await from_iterable(range(5)).pipe(guarded_sink(
        call, breaker=breaker, retry=RetryConfig(attempts=5), concurrency=2,
        dead_letter=lambda item, error: parked.append((item, type(error))),
        clock=clock)).run(bus=bus)
    assert call.calls == 5  # one try per item, no retry
    assert sorted(parked) == [(i, TypeError) for i in range(5)]


async def test_without_a_breaker_the_hint_names_the_programming_error() -> None:
    call = Buggy()
    with pytest.raises(ItemFailedError) as info:
        await from_iterable(range(3)).pipe(guarded_sink(
            call, retry=RetryConfig(attempts=3), clock=VirtualClock())).run()
    assert call.calls == 1
    cause = info.value.__cause__
    assert isinstance(cause, DeliveryError)
    assert str(cause) == (
        "guarded_sink 'guarded_sink' did not deliver the item (not retryable; no breaker "
        "configured); last error: TypeError: unsupported operand type(s) for +: 'int' and "
        "'str' (item 0); TypeError is a programming error, never retried by default: fix "
        "Buggy (RetryConfig.never_retry_on lists such errors)")
    assert "dead_letter" not in str(cause)  # the old hint sent users the wrong way
    assert cause.breaker is None


async def test_a_downstream_failure_still_points_to_dead_letter() -> None:
    async def down(item: int) -> None:
        raise ConnectionError("refused")

    clock = VirtualClock()
    run = asyncio.create_task(from_iterable(range(1)).pipe(guarded_sink(
        down, retry=RetryConfig(attempts=2, backoff="exponential", base_delay=1),
        clock=clock)).run())
    await clock.advance(1)
    with pytest.raises(ItemFailedError) as info:
        await run
    cause = info.value.__cause__
    assert isinstance(cause, DeliveryError)
    assert isinstance(cause.__cause__, RetryError)
    assert str(cause).endswith(
        "; pass dead_letter= to route such items instead of failing the stream")
