"""Operators: results, bounds, error policies and the messages of bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from streamguard import (
    BufferOverflowError,
    ConfigError,
    EventBus,
    ItemFailedError,
    StageStatistics,
    from_iterable,
)
from streamguard import operators as op
from streamguard.core import StageTerminated
from streamguard.testing import AckRecorder, TestSubscriber


async def _settle(n: int = 30) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def _below_4(x: int) -> bool:
    return x < 4


async def test_map_filter_take_take_while() -> None:
    assert await from_iterable(range(10)).pipe(op.map(str)).to_list() == [str(i) for i in range(10)]
    assert await from_iterable(range(10)).pipe(op.take(3)).to_list() == [0, 1, 2]
    assert await from_iterable(range(10)).pipe(op.take(0)).to_list() == []
    assert await from_iterable(range(10)).pipe(op.take_while(_below_4)).to_list() == [0, 1, 2, 3]


async def test_map_async_bounded_concurrency_and_order() -> None:
    in_flight = 0
    peak = 0

    async def slow(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (x % 3))
        in_flight -= 1
        return x * 10

    out = await from_iterable(range(50)).pipe(op.map_async(slow, concurrency=5)).to_list()
    assert out == [x * 10 for x in range(50)]
    assert peak == 5


async def test_map_async_unordered_delivers_every_item() -> None:
    async def slow(x: int) -> int:
        await asyncio.sleep(0.001 * ((7 * x) % 5))
        return x

    out = await from_iterable(range(40)).pipe(
        op.map_async(slow, concurrency=8, ordered=False)).to_list()
    assert sorted(out) == list(range(40))
    assert out != list(range(40))  # the delays above reorder them


async def test_map_async_holds_at_most_concurrency_without_demand() -> None:
    pulled = 0

    def source() -> Iterator[int]:
        nonlocal pulled
        for i in range(1000):
            pulled += 1
            yield i

    async def fast(x: int) -> int:
        return x

    sub: TestSubscriber[int] = TestSubscriber()
    from_iterable(source(), chunk_size=1).pipe(op.map_async(fast, concurrency=4)).subscribe(sub)
    sub.request(1)
    await _settle()
    assert sub.items == [0]
    # One emitted, at most 2 x concurrency held (in flight and waiting), one lookahead.
    assert pulled <= 1 + 2 * 4 + 1
    sub.cancel()


async def test_batch_by_size_and_time() -> None:
    assert await from_iterable(range(7)).pipe(op.batch(3)).to_list() == [[0, 1, 2], [3, 4, 5], [6]]

    async def ticks() -> AsyncIterator[int]:
        yield 1
        yield 2
        await asyncio.sleep(0.05)
        yield 3

    from streamguard import from_async_iterable

    out = await from_async_iterable(ticks).pipe(op.batch(10, timeout=0.01)).to_list()
    assert out == [[1, 2], [3]]


async def test_batch_timeout_runs_on_the_injected_clock() -> None:
    from streamguard import Emitter
    from streamguard.testing import VirtualClock

    clock = VirtualClock()
    emitter: Emitter[int] = Emitter()
    out: list[list[int]] = []
    pipeline = emitter.stream().pipe(op.batch(10, timeout=5.0, clock=clock),
                                     op.sink(out.append)).start()
    await emitter.emit(1)
    await emitter.emit(2)
    await clock.advance(4.9)
    assert out == []  # 4.9 s of virtual time: the batch is still open
    await clock.advance(0.1)
    assert out == [[1, 2]]
    await emitter.emit(3)
    emitter.complete()
    await pipeline.wait()
    assert out == [[1, 2], [3]]


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [
        ("drop_oldest", [7, 8, 9]),
        ("drop_newest", [0, 1, 2]),
        ("keep_latest", [0, 1, 9]),
    ],
)
async def test_lossy_buffers_count_and_complete_drops(
    overflow: Any, expected: list[int]
) -> None:
    rec = AckRecorder()
    sub: TestSubscriber[int] = TestSubscriber()
    from_iterable(range(10), ack=rec.ack).pipe(op.buffer(3, overflow=overflow)).subscribe(sub)
    sub.request(1)  # the buffer asks for everything; 10 items meet a capacity of 3
    await _settle()
    sub.request(10)
    await _settle()
    assert sub.items == expected
    assert sub.completions == 1
    # Delivered items were completed by the subscriber, dropped ones by the buffer.
    assert rec.completed_exactly_once(range(10))
    assert not rec.failed


async def test_lossy_buffer_statistics_balance() -> None:
    result = await from_iterable(range(1000)).pipe(
        op.buffer(10, overflow="drop_oldest", name="lossy"),
        op.map_async(_sleepy, concurrency=1),
    ).run()
    lossy = next(s for s in result.statistics if s.stage == "lossy")
    assert lossy.received == 1000
    assert lossy.emitted + lossy.dropped == lossy.received
    assert lossy.dropped > 0


async def _sleepy(x: int) -> int:
    await asyncio.sleep(0)
    return x


async def test_buffer_overflow_error_names_stage_and_capacity() -> None:
    async def slow(x: int) -> int:
        await asyncio.sleep(0.001)
        return x

    with pytest.raises(BufferOverflowError, match=r"stage 'edge' is full \(capacity=2\)"):
        await from_iterable(range(100)).pipe(
            op.buffer(2, overflow="error", name="edge"), op.map_async(slow)).run()


async def test_error_policy_fail_names_stage_and_item() -> None:
    rec = AckRecorder()

    def boom(x: int) -> int:
        if x == 3:
            raise KeyError("no price")
        return x

    with pytest.raises(ItemFailedError, match=r"stage 'price' failed on item 3: KeyError") as info:
        await from_iterable(range(10), ack=rec.ack).pipe(op.map(boom, name="price")).run()
    assert info.value.item == 3
    assert info.value.stage == "price"
    assert rec.failed[3] == 1


async def test_error_policy_skip_and_fallback() -> None:
    rec = AckRecorder()

    def boom(x: int) -> int:
        if x % 4 == 0:
            raise ValueError(x)
        return x

    out = await from_iterable(range(10), ack=rec.ack).pipe(op.map(boom, on_error="skip")).to_list()
    assert out == [1, 2, 3, 5, 6, 7, 9]
    assert set(rec.failed) == {0, 4, 8}
    assert rec.completed_exactly_once(range(10))

    out2 = await from_iterable(range(5)).pipe(
        op.map(boom, on_error=lambda item, exc: -1)).to_list()
    assert out2 == [-1, 1, 2, 3, -1]


async def test_map_async_error_policies() -> None:
    async def boom(x: int) -> int:
        if x == 2:
            raise RuntimeError("down")
        return x

    assert await from_iterable(range(4)).pipe(
        op.map_async(boom, on_error="skip")).to_list() == [0, 1, 3]
    assert await from_iterable(range(4)).pipe(
        op.map_async(boom, on_error=lambda x, e: 99)).to_list() == [0, 1, 99, 3]
    with pytest.raises(ItemFailedError, match="failed on item 2: RuntimeError: down"):
        await from_iterable(range(4)).pipe(op.map_async(boom, concurrency=2)).run()


def _bad(value: object) -> Any:
    """A deliberately wrong value, past the type checker."""
    return value


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: op.buffer(0), "op.buffer: capacity must be an int >= 1, got 0"),
        (lambda: op.buffer(True), "op.buffer: capacity must be an int >= 1, got True"),
        (lambda: op.buffer(4, overflow=_bad("spill")), "overflow must be one of"),
        (lambda: op.buffer(4, overflow=_bad(None)), "overflow must be one of"),
        (lambda: op.buffer(4, replenish=9),
         "op.buffer: replenish must be an int between 1 and capacity=4, got 9"),
        (lambda: op.map_async(_sleepy, concurrency=0),
         "op.map_async: concurrency must be an int >= 1, got 0"),
        (lambda: op.map_async(_sleepy, concurrency=True),
         "op.map_async: concurrency must be an int >= 1, got True"),
        (lambda: op.map_async(_sleepy, ordered=_bad("yes")),
         "op.map_async: ordered must be a bool, got 'yes'"),
        (lambda: op.batch(0), "op.batch: size must be an int >= 1, got 0"),
        (lambda: op.batch(3, timeout=-1),
         "op.batch: timeout must be a number of seconds > 0 or None, got -1"),
        (lambda: op.batch(3, timeout=_bad("1")),
         "op.batch: timeout must be a number of seconds > 0 or None, got '1'"),
        (lambda: op.batch(3, timeout=True),
         "op.batch: timeout must be a number of seconds > 0 or None, got True"),
        (lambda: op.prefetch(-5), "op.prefetch: n must be an int >= 1, got -5"),
        (lambda: op.prefetch(4, low_tide=_bad("0.5")),
         "op.prefetch: low_tide must be a number in (0, 1], got '0.5'"),
        (lambda: op.take(-1), "op.take: count must be an int >= 0, got -1"),
        (lambda: op.take(_bad(1.5)), "op.take: count must be an int >= 0, got 1.5"),
        (lambda: op.sink(print, prefetch=_bad(None)),
         "op.sink: prefetch must be an int >= 1, got None"),
        (lambda: op.map(str, name=_bad(3)), "op.map: name must be a str or None, got 3"),
        (lambda: op.filter(_bad(None)), "op.filter: predicate must be callable, got None"),
        (
            lambda: op.map(str, on_error=_bad("ignore")),
            "op.map: on_error must be 'fail', 'skip' or a callable",
        ),
        (lambda: from_iterable([], chunk_size=0),
         "from_iterable: chunk_size must be an int >= 1, got 0"),
        (lambda: from_iterable([], chunk_size=_bad(None)),
         "from_iterable: chunk_size must be an int >= 1, got None"),
        (lambda: from_iterable([], chunk_size=True),
         "from_iterable: chunk_size must be an int >= 1, got True"),
    ],
)
def test_bad_configuration_names_field_and_value(build: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert message in str(info.value)


def _nothing(x: object) -> None:
    pass


def _plain(x: int) -> int:
    return x


async def _on_error_async(item: int, error: Exception) -> int:
    return -1


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: op.map(_sleepy), "op.map: fn must be a plain function"),
        (lambda: op.filter(_sleepy), "op.filter: predicate must be a plain function"),
        (lambda: op.take_while(_sleepy), "op.take_while: predicate must be a plain function"),
        (lambda: op.map_async(_bad(_plain)), "op.map_async: fn must be an async function"),
        (lambda: op.map(_plain, on_error=_on_error_async),
         "op.map: on_error must be a plain function"),
        (lambda: op.sink(_plain, on_error=_on_error_async),
         "op.sink: on_error must be a plain function"),
    ],
)
def test_a_callable_of_the_wrong_kind_is_refused_naming_the_operator_and_the_fix(
    build: Any, message: str,
) -> None:
    with pytest.raises(TypeError) as info:
        build()
    assert message in str(info.value)
    assert "async def" in str(info.value) or "plain def" in str(info.value)


async def test_an_async_stage_awaits_an_async_on_error() -> None:
    async def boom(x: int) -> int:
        if x == 1:
            raise ValueError(x)
        return x

    assert await from_iterable(range(3)).pipe(
        op.map_async(boom, on_error=_on_error_async)).to_list() == [0, -1, 2]


def test_a_sink_must_be_the_last_stage() -> None:
    with pytest.raises(TypeError, match=r"op.map comes after op.sink, which ends the pipeline"):
        from_iterable(range(3)).pipe(op.sink(print), op.map(str))
    with pytest.raises(TypeError, match=r"op.sink comes after op.sink"):
        op.sink(print)(from_iterable(range(3)).pipe(op.sink(_sleepy)))


async def test_take_while_raising_mid_chunk_keeps_the_statistics_balanced() -> None:
    rec = AckRecorder()

    def below_5(x: int) -> bool:
        if x == 5:
            raise ValueError("bad predicate")
        return x < 100

    bus = EventBus()
    final: dict[str, StageStatistics] = {}
    bus.subscribe(lambda e: final.__setitem__(e.stage, e.statistics)
                  if isinstance(e, StageTerminated) else None)
    with pytest.raises(ItemFailedError, match="bad predicate"):
        await from_iterable(range(12), ack=rec.ack).pipe(
            op.take_while(below_5, name="tw"), op.sink(_nothing)).run(bus=bus)
    stats = final["tw"]
    assert stats.received == 12
    assert (stats.emitted, stats.failed, stats.dropped) == (5, 1, 6)
    assert stats.emitted + stats.failed + stats.dropped == stats.received
    assert rec.settled_exactly_once(), rec.describe()


async def test_prefetch_requests_in_chunks() -> None:
    from streamguard.core import lift
    from streamguard.core._stage import Stage

    requests: list[int] = []

    class RequestSpy(Stage[int, int]):
        def request(self, n: int) -> None:
            requests.append(n)
            super().request(n)

        def on_chunk(self, items: list[int], acks: object) -> None:
            self._emit(items, acks)  # type: ignore[arg-type]

    out: list[int] = await from_iterable(range(100)).pipe(
        lift(lambda d: RequestSpy(d)), op.prefetch(20)).to_list(prefetch=1)
    assert out == list(range(100))
    assert requests[0] == 20
    assert len(requests) > 1
    assert all(r == 15 for r in requests[1:])  # refilled at 75% of 20
