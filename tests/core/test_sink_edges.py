"""Edges of a pipeline's ends found by a black-box review: a plain sink callable that returns a
coroutine (it would be acked done without ever running), ``concurrency=`` on a plain sink,
``from_iterable`` of something not iterable, and what ``PipelineResult.items`` counts; and an
async sink callable whose awaited result is still a coroutine (``return store(x)`` without
``await``), refused by every sink in the same words."""

from __future__ import annotations

import gc
import inspect
import warnings
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from streamguard import ConfigError, from_iterable
from streamguard import operators as op
from streamguard.breaker import CircuitBreaker
from streamguard.core import Operator
from streamguard.guard import guarded_sink
from streamguard.testing import AckRecorder


class _Store:
    """An async store; remembers every coroutine it handed out, to see whether it ran."""

    def __init__(self) -> None:
        self.stored: list[int] = []
        self.coroutines: list[Coroutine[Any, Any, None]] = []

    async def _put(self, x: int) -> None:
        self.stored.append(x)

    def put(self, x: Any) -> Coroutine[Any, Any, None]:
        coro = self._put(x)
        self.coroutines.append(coro)
        return coro


def _states(store: _Store) -> set[str]:
    return {inspect.getcoroutinestate(c) for c in store.coroutines}


# --- 1. a plain callable that returns a coroutine -------------------------------------------

async def test_a_plain_sink_returning_a_coroutine_fails_its_item_and_the_pipeline() -> None:
    store, rec = _Store(), AckRecorder()
    stream = from_iterable(range(5), ack=rec.ack).pipe(op.sink(lambda x: store.put(x)))
    with pytest.raises(TypeError) as caught:
        await stream.run()
    message = str(caught.value)
    assert message.startswith("op.sink: fn must not return an awaitable")
    assert "the coroutine _Store._put()" in message
    assert "async def" in message
    assert store.stored == []
    assert rec.failed == {0: 1}  # Kafka would not commit past item 0
    assert not rec.done
    assert rec.abandoned == {1: 1, 2: 1, 3: 1, 4: 1}
    assert rec.settled_exactly_once()
    assert _states(store) == {inspect.CORO_CLOSED}  # closed: no "never awaited" warning


async def test_a_plain_sink_on_error_returning_a_coroutine_is_refused_too() -> None:
    store, rec = _Store(), AckRecorder()

    def boom(x: int) -> None:
        raise ValueError(x)

    stream = from_iterable(range(3), ack=rec.ack).pipe(
        op.sink(boom, on_error=lambda x, e: store.put(x)))
    with pytest.raises(TypeError, match=r"^op\.sink: on_error must not return an awaitable"):
        await stream.run()
    assert rec.failed == {0: 1}
    assert not rec.done
    assert rec.settled_exactly_once()
    assert _states(store) == {inspect.CORO_CLOSED}


async def test_a_plain_sink_returning_a_value_is_fine() -> None:
    rec = AckRecorder()
    seen: list[int] = []

    def keep(x: int) -> int:
        seen.append(x)
        return x

    await from_iterable(range(4), ack=rec.ack).pipe(op.sink(keep)).run()
    assert seen == [0, 1, 2, 3]
    assert rec.completed_exactly_once(range(4))
    assert set(rec.done) == {0, 1, 2, 3}


async def test_an_async_sink_awaits_what_a_plain_on_error_returns() -> None:
    # An async stage awaits its callbacks, as guarded_sink does for dead_letter/fallback.
    store, rec = _Store(), AckRecorder()

    async def boom(x: int) -> None:
        raise ValueError(x)

    await from_iterable(range(3), ack=rec.ack).pipe(
        op.sink(boom, on_error=lambda x, e: store.put(x))).run()
    assert sorted(store.stored) == [0, 1, 2]
    assert _states(store) == {inspect.CORO_CLOSED}
    assert rec.completed_exactly_once(range(3))
    assert set(rec.done) == {0, 1, 2}


async def test_map_async_awaits_what_a_plain_on_error_returns() -> None:
    async def boom(x: int) -> int:
        raise ValueError(x)

    async def replacement(x: int) -> int:
        return -x

    def handler(x: int, error: Exception) -> Coroutine[Any, Any, int]:
        return replacement(x)

    out = await from_iterable(range(3)).pipe(op.map_async(boom, on_error=handler)).to_list()
    assert sorted(out) == [-2, -1, 0]


async def test_a_coroutine_returned_by_op_map_is_data() -> None:
    store = _Store()
    out = await from_iterable(range(2)).pipe(op.map(lambda x: store.put(x))).to_list()
    assert out == store.coroutines
    for coro in out:
        coro.close()


# --- 2. concurrency= on a plain sink --------------------------------------------------------

def test_a_plain_sink_refuses_concurrency() -> None:
    with pytest.raises(ConfigError, match=r"^op\.sink: concurrency= needs an async fn .*, got 4$"):
        op.sink(print, concurrency=4)
    op.sink(print, concurrency=1)  # the default, said out loud


# --- 3. from_iterable of something not iterable ---------------------------------------------

def test_from_iterable_refuses_a_non_iterable_when_built() -> None:
    with pytest.raises(ConfigError, match=r"^from_iterable: iterable must be iterable .*"
                                          r", got 5 \(an int\)$"):
        from_iterable(5)  # type: ignore[arg-type]


def test_from_iterable_points_an_async_iterable_to_from_async_iterable() -> None:
    async def agen() -> Any:
        yield 1

    gen = agen()
    with pytest.raises(ConfigError, match="from_async_iterable"):
        from_iterable(gen)
    assert gen.ag_frame is not None  # not started, not closed


async def test_from_iterable_does_not_touch_a_generator_before_subscription() -> None:
    started: list[bool] = []

    def gen() -> Iterator[int]:
        started.append(True)
        yield from range(3)

    class OldStyle:  # iterable through __getitem__ only
        def __getitem__(self, i: int) -> int:
            if i >= 2:
                raise IndexError(i)
            return i

    stream = from_iterable(gen())
    assert started == []
    assert await stream.to_list() == [0, 1, 2]
    assert await from_iterable(OldStyle()).to_list() == [0, 1]  # type: ignore[arg-type]


# --- 4. PipelineResult.items ----------------------------------------------------------------

async def test_items_counts_what_a_plain_sink_consumed() -> None:
    def odd_fails(x: int) -> None:
        if x % 2:
            raise ValueError(x)

    result = await from_iterable(range(10)).pipe(op.sink(odd_fails, on_error="skip")).run()
    assert result.items == 5  # the five the sink's function returned for


async def test_items_counts_what_an_async_sink_consumed() -> None:
    async def store(x: int) -> None:
        pass

    result = await from_iterable(range(10)).pipe(op.map(str), op.sink(store)).run()
    assert result.items == 10


async def test_items_counts_what_reached_the_end_without_a_sink() -> None:
    def small(x: int) -> bool:
        return x < 7

    result = await from_iterable(range(10)).pipe(op.filter(small)).run()
    assert result.items == 7


async def test_a_failing_plain_sink_abandons_the_rest_of_its_chunk() -> None:
    rec = AckRecorder()

    def fails_on_two(x: int) -> None:
        if x == 2:
            raise ValueError(x)

    with pytest.raises(Exception, match="failed on item 2"):
        await from_iterable(range(6), ack=rec.ack).pipe(op.sink(fails_on_two)).run()
    assert (rec.done, rec.failed, rec.abandoned) == ({0: 1, 1: 1}, {2: 1}, {3: 1, 4: 1, 5: 1})
    assert rec.settled_exactly_once()


async def test_items_counts_what_guarded_sink_delivered() -> None:
    from streamguard.guard import guarded_sink

    async def store(x: int) -> None:
        pass

    result = await from_iterable(range(6)).pipe(guarded_sink(store)).run()
    assert result.items == 6


# --- 5. an async callable whose awaited result is a coroutine -------------------------------
# `async def fn(x): return store(x)` (no `await`): the operator awaits fn(x) once and throws
# the result away, so nothing was stored. Item 2 is the one that forgets; the sink runs with
# concurrency=4, like the report.

def _fails_on_two(x: int) -> None:
    if x == 2:
        raise ValueError(x)


def _sink_fn(store: _Store) -> Operator[int, Any]:
    async def fn(x: int) -> Any:
        if x == 2:
            return store.put(x)
        await store.put(x)
        return None

    return op.sink(fn, concurrency=4)


def _sink_on_error(store: _Store) -> Operator[int, Any]:
    async def fn(x: int) -> None:
        _fails_on_two(x)

    async def handler(x: int, error: Exception) -> Any:
        return store.put(x)

    return op.sink(fn, concurrency=4, on_error=handler)


def _guarded_call(store: _Store) -> Operator[int, Any]:
    async def fn(x: int) -> Any:
        if x == 2:
            return store.put(x)
        await store.put(x)
        return None

    return guarded_sink(fn, concurrency=4)


def _guarded_dead_letter(store: _Store) -> Operator[int, Any]:
    async def fn(x: int) -> None:
        _fails_on_two(x)

    async def dead_letter(x: int, error: BaseException) -> Any:
        return store.put(x)

    return guarded_sink(fn, concurrency=4, dead_letter=dead_letter)


def _guarded_fallback(store: _Store) -> Operator[int, Any]:
    breaker = CircuitBreaker("downstream")
    breaker.force_open()

    async def fn(x: int) -> None:
        pass

    async def fallback(x: int, error: BaseException) -> Any:
        if x == 2:
            return store.put(x)
        await store.put(x)
        return None

    return guarded_sink(fn, concurrency=4, breaker=breaker, on_open="fallback",
                        fallback=fallback)


@pytest.mark.parametrize(("sink", "owner", "field", "fn"), [
    (_sink_fn, "op.sink", "fn", "_sink_fn.<locals>.fn"),
    (_sink_on_error, "op.sink", "on_error", "_sink_on_error.<locals>.handler"),
    (_guarded_call, "guarded_sink", "call", "_guarded_call.<locals>.fn"),
    (_guarded_dead_letter, "guarded_sink", "dead_letter",
     "_guarded_dead_letter.<locals>.dead_letter"),
    (_guarded_fallback, "guarded_sink", "fallback", "_guarded_fallback.<locals>.fallback"),
], ids=["sink-fn", "sink-on_error", "guarded-call", "guarded-dead_letter", "guarded-fallback"])
async def test_an_async_callable_returning_a_coroutine_fails_its_item_and_the_pipeline(
        sink: Callable[[_Store], Operator[int, Any]], owner: str, field: str, fn: str) -> None:
    store, rec = _Store(), AckRecorder()
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        with pytest.raises(TypeError) as caught:
            await from_iterable(range(8), ack=rec.ack).pipe(sink(store)).run()
        error = caught.value
        del caught
        states = _states(store)
        store.coroutines.clear()  # the last references: a coroutine left open warns now
        gc.collect()
    assert type(error) is TypeError  # a programming error: no error policy, no wrapper
    assert str(error) == (
        f"{owner}: {field} must not return an awaitable (a coroutine would never be awaited "
        f"here, and the item would complete without it), got the coroutine _Store._put() when "
        f"the operator awaited {fn}; await it inside {fn} (`await store(item)`, not `return "
        f"store(item)`): the operator awaits the call once and throws its result away")
    assert 2 not in store.stored
    assert rec.failed.get(2) == 1  # Kafka would not commit past item 2
    assert set(rec.done) <= {0, 1}  # nothing after it is acked done
    assert rec.settled_exactly_once()
    assert not [w for w in caught_warnings if "never awaited" in str(w.message)]
    assert states == {inspect.CORO_CLOSED}  # closed by the refusal, so no warning


def test_the_never_awaited_check_above_can_fail() -> None:
    # The warning the test above looks for is recorded this way when a coroutine is dropped.
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        dropped = _Store().put(1)
        del dropped
        gc.collect()
    assert [w for w in caught_warnings if "never awaited" in str(w.message)]


async def test_an_async_sink_returning_a_value_is_fine() -> None:
    rec = AckRecorder()

    async def keep(x: int) -> int:
        return x

    await from_iterable(range(6), ack=rec.ack).pipe(op.sink(keep, concurrency=4)).run()
    await from_iterable(range(6, 9), ack=rec.ack).pipe(guarded_sink(keep)).run()
    assert rec.completed_exactly_once(range(9))
    assert set(rec.done) == set(range(9))


async def test_a_coroutine_returned_by_op_map_async_is_data() -> None:
    store = _Store()

    async def fn(x: int) -> Coroutine[Any, Any, None]:
        return store.put(x)

    out = await from_iterable(range(2)).pipe(op.map_async(fn)).to_list()
    assert out == store.coroutines
    for coro in out:
        coro.close()
