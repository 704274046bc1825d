"""Reactive Streams rules that apply to a single-threaded asyncio implementation."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest

from streamguard import DemandError, Emitter, StreamClosedError, from_async_iterable, from_iterable
from streamguard import operators as op
from streamguard.core import UNBOUNDED, Stream
from streamguard.testing import TestSubscriber


async def _settle(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _agen() -> Any:
    for i in range(100):
        yield i


def _below_100(x: int) -> bool:
    return x < 100


# Publishers under test: each builds a fresh stream of 0..99 (some through operators).
PUBLISHERS: dict[str, Callable[[], Stream[Any]]] = {
    "iterable": lambda: from_iterable(range(100)),
    "async_gen": lambda: from_async_iterable(_agen),
    "map": lambda: from_iterable(range(100)).pipe(op.map(lambda x: x)),
    "filter": lambda: from_iterable(range(200)).pipe(op.filter(_below_100)),
    "buffer": lambda: from_iterable(range(100)).pipe(op.buffer(8)),
    "prefetch": lambda: from_iterable(range(100)).pipe(op.prefetch(16)),
    "map_async": lambda: from_iterable(range(100)).pipe(op.map_async(_echo, concurrency=4)),
    "take": lambda: from_iterable(range(1000)).pipe(op.take(100)),
}


async def _echo(x: int) -> int:
    await asyncio.sleep(0)
    return x


@pytest.fixture(params=sorted(PUBLISHERS))
def make(request: pytest.FixtureRequest) -> Callable[[], Stream[Any]]:
    return PUBLISHERS[request.param]


async def test_rule_1_1_never_more_than_requested(make: Callable[[], Stream[Any]]) -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    make().subscribe(sub)
    for n in (1, 3, 7, 2):
        sub.request(n)
        await _settle()
    assert len(sub.items) == 13
    assert sub.items == list(range(13))
    assert sub.violations == []
    sub.cancel()


@pytest.mark.parametrize("bad", [0, -1, -(2**63)])
async def test_rule_3_9_non_positive_request_signals_error(
    make: Callable[[], Stream[Any]], bad: int
) -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    make().subscribe(sub)
    sub.request(bad)
    await _settle()
    assert len(sub.errors) == 1
    err = sub.errors[0]
    assert isinstance(err, DemandError)
    assert "rule 3.9" in str(err)
    assert f"got {bad}" in str(err)
    assert sub.violations == []


async def test_rule_3_17_demand_accumulates_and_saturates(make: Callable[[], Stream[Any]]) -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    make().subscribe(sub)
    sub.request(UNBOUNDED)
    sub.request(UNBOUNDED)  # must not overflow or error
    sub.request(5)
    await _settle(200)
    assert sub.errors == []
    assert sub.items == list(range(100))
    assert sub.completions == 1


async def test_demand_accumulates_across_requests(make: Callable[[], Stream[Any]]) -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    make().subscribe(sub)
    sub.request(40)
    sub.request(60)
    await _settle(200)
    assert sub.items == list(range(100))


async def test_rules_1_7_and_2_4_one_terminal_signal_and_nothing_after(
    make: Callable[[], Stream[Any]],
) -> None:
    sub: TestSubscriber[int] = TestSubscriber(initial_request=1000)
    make().subscribe(sub)
    await _settle(200)
    assert sub.completions == 1
    sub.request(10)  # after completion: must be a no-op
    await _settle()
    assert sub.completions == 1
    assert sub.errors == []
    assert sub.violations == []


async def test_rules_3_5_and_3_12_cancel_is_idempotent_and_stops_emission(
    make: Callable[[], Stream[Any]],
) -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    make().subscribe(sub)
    sub.request(5)
    await _settle()
    sub.cancel()
    sub.cancel()
    received = len(sub.items)
    sub.request(10)
    await _settle()
    assert len(sub.items) == received <= 5
    assert sub.errors == []
    assert sub.violations == []


async def test_rule_3_3_no_unbounded_recursion_request_inside_on_next() -> None:
    count = 20 * sys.getrecursionlimit()

    class OneByOne(TestSubscriber[int]):
        def on_chunk(self, items: list[int], acks: Any) -> None:
            super().on_chunk(items, acks)
            self.request(1)  # re-entrant request from inside the signal

    sub = OneByOne()
    from_iterable(range(count)).pipe(op.map(lambda x: x)).subscribe(sub)
    sub.request(1)
    for _ in range(count // 64 + 10):
        if sub.completions:
            break
        await asyncio.sleep(0)
    assert sub.items == list(range(count))
    assert sub.errors == []


async def test_emitter_emit_after_cancel_raises_closed() -> None:
    emitter: Emitter[int] = Emitter(name="orders")
    sub: TestSubscriber[int] = TestSubscriber(initial_request=1)
    emitter.stream().subscribe(sub)
    await emitter.emit(1)
    sub.cancel()
    with pytest.raises(StreamClosedError, match="Emitter 'orders' was cancelled"):
        await emitter.emit(2)
    assert sub.items == [1]


async def test_emitter_waits_for_demand() -> None:
    emitter: Emitter[int] = Emitter()
    sub: TestSubscriber[int] = TestSubscriber()
    emitter.stream().subscribe(sub)
    waiting = asyncio.ensure_future(emitter.emit(7))
    await _settle()
    assert not waiting.done()  # no demand yet
    sub.request(1)
    await _settle()
    assert waiting.done()
    assert sub.items == [7]
    emitter.complete()
    assert sub.completions == 1
