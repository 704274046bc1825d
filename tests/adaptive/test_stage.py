"""An adaptive limit drives a stage: every call is timed and reported, the number of calls
in flight never exceeds the limit of the moment, and a grown limit starts more workers."""

from __future__ import annotations

import asyncio
import itertools

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.adaptive import AIMD, AdaptiveLimit
from streamguard.core import Ack
from streamguard.guard import guarded_sink
from streamguard.retry import RetryConfig
from streamguard.testing import VirtualClock


class _Downstream:
    """Counts calls in flight and remembers the most seen while each limit held."""

    def __init__(self, limit: AdaptiveLimit, clock: VirtualClock) -> None:
        self.limit = limit
        self.clock = clock
        self.in_flight = 0
        self.over_limit = 0
        self.peak = 0

    async def call(self, item: int) -> int:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight > self.limit.limit:
            self.over_limit += 1
        await self.clock.sleep(0.01)
        self.in_flight -= 1
        if item % 7 == 0:
            raise ConnectionError("503")
        return item


async def _drive(clock: VirtualClock, task: asyncio.Task[object]) -> None:
    while not task.done():
        await clock.advance(0.01)
        await asyncio.sleep(0)


async def test_calls_in_flight_follow_the_limit_and_every_call_is_reported() -> None:
    clock = VirtualClock()
    limit = AdaptiveLimit("down", AIMD(initial=2, max_limit=16, backoff=0.5), clock=clock)
    down = _Downstream(limit, clock)
    seen: list[int] = []
    limit.on_event(lambda e: seen.append(e.limit))
    task = asyncio.ensure_future(from_iterable(range(400)).pipe(
        op.map_async(down.call, concurrency=limit, ordered=False, on_error="skip"),
    ).to_list())
    await _drive(clock, task)
    out = task.result()
    assert sorted(out) == [i for i in range(400) if i % 7]
    stats = limit.statistics()
    assert stats.samples == 400
    assert stats.drops == len([i for i in range(400) if i % 7 == 0])
    assert down.over_limit == 0
    assert max(seen) > 2  # it grew while calls succeeded …
    assert any(b < a for a, b in itertools.pairwise(seen))  # … and backed off
    assert down.peak > 2  # a grown limit started more workers


async def test_the_default_per_key_bound_follows_a_grown_limit() -> None:
    # Keyed, the stage holds at most a quarter of its capacity of one key by default. Sized
    # once from the starting limit (2: capacity 4, bound 2), it kept the hot key there for ever.
    clock = VirtualClock()
    limit = AdaptiveLimit("down", AIMD(initial=2, max_limit=16), clock=clock)
    hot = peak = 0

    def key(item: int) -> str:
        return "hot" if item % 2 == 0 else f"k{item}"  # every other item: the hot key

    def ack(item: int) -> Ack:
        nonlocal hot, peak
        if key(item) == "hot":
            hot += 1
            peak = max(peak, hot)

        class _Ack:
            def done(self) -> None:
                nonlocal hot
                if key(item) == "hot":
                    hot -= 1

            def fail(self, error: BaseException) -> None:
                self.done()

            def abandon(self) -> None:
                self.done()

        return _Ack()

    async def call(item: int) -> int:
        await clock.sleep(0.01)
        return item

    task = asyncio.ensure_future(from_iterable(range(600), ack=ack).pipe(
        op.map_async(call, concurrency=limit, ordered=False, key=key),
    ).to_list())
    await _drive(clock, task)
    assert sorted(task.result()) == list(range(600))
    assert limit.limit >= 6  # it grew: capacity 12 or more, a default bound of 3 or more …
    assert peak > 2  # … and the hot key's share grew with it


async def test_ordered_results_keep_their_order_under_an_adaptive_limit() -> None:
    clock = VirtualClock()
    limit = AdaptiveLimit("down", AIMD(initial=1, max_limit=8), clock=clock)

    async def call(item: int) -> int:
        await clock.sleep(0.01 * (item % 3))
        return item

    task = asyncio.ensure_future(from_iterable(range(200)).pipe(
        op.map_async(call, concurrency=limit)).to_list())
    await _drive(clock, task)
    assert task.result() == list(range(200))
    assert limit.limit > 1


async def test_guarded_sink_reports_every_try_of_its_call_and_follows_the_limit() -> None:
    # Each try of the guarded call is a sample (a failed one a drop), as each call of a sink
    # function is: not the whole delivery, whose retry backoff is no downstream latency.
    clock = VirtualClock()
    limit = AdaptiveLimit("down", AIMD(initial=2, max_limit=16, backoff=0.5), clock=clock)
    down = _Downstream(limit, clock)
    seen: list[int] = []
    limit.on_event(lambda e: seen.append(e.limit))
    tries: list[int] = []
    delivered: list[int] = []
    dead: list[int] = []

    async def call(item: int) -> None:
        tries.append(item)
        if tries.count(item) > 1:  # a retry succeeds
            item = 1
        delivered.append(await down.call(item))

    task = asyncio.ensure_future(from_iterable(range(400)).pipe(guarded_sink(
        call, concurrency=limit, retry=RetryConfig(attempts=2, base_delay=0.01),
        dead_letter=lambda item, error: dead.append(item), clock=clock)).run())
    await _drive(clock, task)
    task.result()
    failures = len([i for i in range(400) if i % 7 == 0])
    assert len(delivered) + len(dead) == 400
    stats = limit.statistics()
    assert stats.samples == len(tries) > 400  # the retries too
    assert stats.drops == failures
    assert down.over_limit == 0
    assert max(seen) > 2
    assert any(b < a for a, b in itertools.pairwise(seen))
    assert down.peak > 2
