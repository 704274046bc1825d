"""The ``rate_limit`` stage on a virtual clock: shaping with backpressure, fairness between
keys, policing to a sink, error mode, cancellation."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from streamguard import from_async_iterable, from_iterable
from streamguard import operators as op
from streamguard.core import ConfigError, EventBus
from streamguard.ratelimit import (
    GCRA,
    CompositeLimiter,
    Decision,
    RateLimiter,
    RateLimitExceeded,
    Tier,
    TokenBucket,
    rate_limit,
)
from streamguard.testing import AckRecorder, TestSubscriber, VirtualClock


def limiter(clock: VirtualClock, rate: float = 10, burst: float = 2) -> RateLimiter:
    return RateLimiter("api", TokenBucket(rate=rate, burst=burst), clock=clock,
                       bus=EventBus())


async def settle(clock: VirtualClock, seconds: float, step: float = 0.05) -> None:
    for _ in range(round(seconds / step)):
        await clock.advance(step)


async def test_shape_delays_items_to_the_rate_in_order() -> None:
    clock = VirtualClock()
    stamps: list[tuple[int, float]] = []

    def stamp(x: int) -> None:
        stamps.append((x, clock.now()))

    task = asyncio.create_task(from_iterable(range(10)).pipe(
        rate_limit(limiter(clock)), op.map(stamp)).run())
    await settle(clock, 1.0)
    await task
    assert [x for x, _ in stamps] == list(range(10))
    assert [t for _, t in stamps] == pytest.approx([0, 0, .1, .2, .3, .4, .5, .6, .7, .8])


async def test_shape_stops_requesting_upstream_while_items_wait() -> None:
    clock = VirtualClock()
    pulled: list[int] = []

    def source() -> Iterator[int]:
        for i in range(1000):
            pulled.append(i)
            yield i

    out: list[int] = []
    task = asyncio.create_task(from_iterable(source()).pipe(
        rate_limit(limiter(clock, rate=10, burst=1), max_pending=4),
        op.map(out.append),
    ).run())
    await clock.advance(0)
    for _ in range(10):
        await clock.advance(0.1)
        assert len(pulled) <= len(out) + 4 + 1  # admitted + held + one the source prepared
    assert len(out) == 10  # at 0, 0.1, ..., 0.9 (ten steps of 0.1 add up to just under 1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_limiter_is_asked_only_while_downstream_wants_items() -> None:
    clock = VirtualClock()
    shared = limiter(clock, rate=10, burst=5)
    downstream: TestSubscriber[int] = TestSubscriber(initial_request=1)
    from_iterable(range(100)).pipe(rate_limit(shared, max_pending=8)).subscribe(downstream)
    await clock.advance(0)
    await clock.advance(1.0)
    # One item wanted, one admitted: the other four tokens are not spent on items that
    # would then wait in the stage and leave together, later, as a burst.
    assert downstream.items == [0]
    assert shared.statistics().allowed == 1
    downstream.request(10)
    await clock.advance(0)
    assert downstream.items == [0, 1, 2, 3, 4, 5]  # the full burst, at once, as allowed
    assert not downstream.violations
    downstream.cancel()
    await clock.advance(0)


async def test_a_hot_key_does_not_hold_up_other_keys() -> None:
    clock = VirtualClock()
    per_user = limiter(clock, rate=1, burst=1)
    items = [("hot", i) for i in range(20)] + [("cold", i) for i in range(3)]
    passed: list[tuple[str, int, float]] = []

    def stamp(item: tuple[str, int]) -> None:
        passed.append((*item, clock.now()))

    def user(item: tuple[str, int]) -> str:
        return item[0]

    task = asyncio.create_task(from_iterable(items).pipe(
        rate_limit(per_user, key=user), op.map(stamp)).run())
    await clock.advance(0)
    await clock.advance(1.0)
    cold = [t for user, _, t in passed if user == "cold"]
    assert cold == [0.0, 1.0]  # one per second, untouched by the hot key's backlog of 19
    assert [i for user, i, _ in passed if user == "hot"] == [0, 1]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_keys_competing_for_a_shared_tier_take_turns() -> None:
    clock = VirtualClock()
    api = CompositeLimiter("api", clock=clock, bus=EventBus(), tiers=[
        Tier(name="global", algorithm=GCRA(rate=10, burst=1)),
        Tier(name="user", algorithm=GCRA(rate=1000, burst=1000), key=lambda item: item[0]),
    ])
    items = [("hot", i) for i in range(30)] + [("cold", i) for i in range(5)]
    passed: list[str] = []

    def note(item: tuple[str, int]) -> None:
        passed.append(item[0])

    task = asyncio.create_task(from_iterable(items).pipe(rate_limit(api), op.map(note)).run())
    await clock.advance(0)
    await settle(clock, 1.0, step=0.1)
    # 11 tokens so far; the cold key got every other one, not what was left after 30 hot items.
    assert passed.count("cold") == 5
    assert len(passed) == 11
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_police_sends_refusals_to_on_reject_and_completes_them() -> None:
    clock = VirtualClock()
    rejected: list[tuple[int, Decision]] = []
    acks = AckRecorder()
    result = await from_iterable(range(5), ack=acks.ack).pipe(
        rate_limit(limiter(clock, rate=10, burst=2), mode="police",
                   on_reject=lambda item, d: rejected.append((item, d))),
    ).to_list()
    assert result == [0, 1]
    assert [item for item, _ in rejected] == [2, 3, 4]
    assert all(not d.allowed and d.retry_after > 0 for _, d in rejected)
    assert acks.completed_exactly_once(range(5))
    assert not acks.failed


async def test_police_with_an_async_sink() -> None:
    clock = VirtualClock()
    sunk: list[int] = []

    async def dead_letter(item: int, decision: Decision) -> None:
        await asyncio.sleep(0)
        sunk.append(item)

    run = await from_iterable(range(6)).pipe(
        rate_limit(limiter(clock, rate=1, burst=3), mode="police", on_reject=dead_letter,
                   name="edge"),
        op.sink(lambda _: None),
    ).run()
    assert sunk == [3, 4, 5]
    stats = next(s for s in run.statistics if s.stage == "edge")
    assert (stats.received, stats.emitted, stats.rejected) == (6, 3, 3)


async def test_an_async_on_reject_returning_a_coroutine_fails_its_item_and_the_stream() -> None:
    # `return store(item)` without `await`: the stage awaits on_reject once and throws the
    # result away, so item 2 would complete at its source without being stored.
    clock = VirtualClock()
    acks = AckRecorder()
    stored: list[int] = []

    async def store(item: int) -> None:
        stored.append(item)

    async def on_reject(item: int, decision: Decision) -> Any:
        return store(item)

    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        with pytest.raises(TypeError) as caught:
            await from_iterable(range(5), ack=acks.ack).pipe(
                rate_limit(limiter(clock, rate=10, burst=2), mode="police",
                           on_reject=on_reject)).to_list()
        error = caught.value
        del caught
        gc.collect()
    name = ("test_an_async_on_reject_returning_a_coroutine_fails_its_item_and_the_stream."
            "<locals>.on_reject")
    assert str(error) == (
        "rate_limit: on_reject must not return an awaitable (a coroutine would never be "
        "awaited here, and the item would complete without it), got the coroutine "
        f"test_an_async_on_reject_returning_a_coroutine_fails_its_item_and_the_stream.<locals>"
        f".store() when the operator awaited {name}; await it inside {name} (`await "
        "store(item)`, not `return store(item)`): the operator awaits the call once and "
        "throws its result away")
    assert stored == []
    assert acks.failed.get(2) == 1
    assert set(acks.done) <= {0, 1}  # only what passed the limit
    assert acks.settled_exactly_once()
    assert not [w for w in caught_warnings if "never awaited" in str(w.message)]


async def test_error_mode_fails_the_stream_and_the_item() -> None:
    clock = VirtualClock()
    acks = AckRecorder()
    with pytest.raises(RateLimitExceeded, match=r"refused item 2 \(cost 1, retry after 0\.100"):
        await from_iterable(range(5), ack=acks.ack).pipe(
            rate_limit(limiter(clock), mode="error"),
        ).to_list()
    assert set(acks.failed) == {2}


async def test_a_cost_that_never_fits_goes_to_on_reject_in_shape_mode() -> None:
    clock = VirtualClock()
    refused: list[float] = []
    task = asyncio.create_task(from_iterable([1, 5, 1]).pipe(
        rate_limit(limiter(clock, rate=10, burst=2), cost=lambda c: c,
                   on_reject=lambda item, d: refused.append(d.retry_after)),
    ).to_list())
    await settle(clock, 0.5)
    assert await task == [1, 1]
    assert refused == [float("inf")]


async def test_cancelling_the_pipeline_gives_the_waits_back() -> None:
    clock = VirtualClock()
    shared = limiter(clock, rate=1, burst=1)
    task = asyncio.create_task(from_iterable(range(5)).pipe(rate_limit(shared)).to_list())
    await clock.advance(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert shared.statistics().waiting == 0
    await clock.advance(0.5)
    assert shared.try_acquire().allowed  # the token the cancelled item waited for


async def test_a_composite_takes_its_tier_keys_from_the_item() -> None:
    clock = VirtualClock()
    api = CompositeLimiter("api", clock=clock, bus=EventBus(), tiers=[
        Tier(name="global", algorithm=GCRA(rate=100, burst=100)),
        Tier(name="user", algorithm=GCRA(rate=1, burst=1), key=lambda r: r["user"]),
    ])
    rejected: list[Any] = []
    out = await from_iterable([{"user": "a"}, {"user": "a"}, {"user": "b"}]).pipe(
        rate_limit(api, mode="police", on_reject=lambda item, d: rejected.append(d.limiter)),
    ).to_list()
    assert out == [{"user": "a"}, {"user": "b"}]
    assert rejected == ["api/user"]


@pytest.mark.parametrize(("options", "message"), [
    ({"mode": "drop"},
     "rate_limit: mode must be one of 'backpressure', 'police', 'error', got 'drop'"),
    ({"mode": "shape"},
     "rate_limit: mode must be one of 'backpressure', 'police', 'error', got 'shape'"),
    ({"mode": "police"},
     "rate_limit: mode='police' needs on_reject, a callback (item, decision), got None"),
    ({"max_pending": 0}, "rate_limit: max_pending must be an int >= 1, got 0"),
    ({"max_pending": True}, "rate_limit: max_pending must be an int >= 1, got True"),
    ({"max_pending_per_key": 65},
     "rate_limit: max_pending_per_key must be None or an int in 1 .. max_pending, got 65"),
    ({"max_pending_per_key": 8}, "rate_limit: max_pending_per_key needs on_reject, a callback "
     "(item, decision) for the items beyond it, got None"),
    ({"cost": 0}, "rate_limit: cost must be a number > 0 or a function of the item, got 0"),
    ({"cost": True},
     "rate_limit: cost must be a number > 0 or a function of the item, got True"),
    ({"key": "user"}, "rate_limit: key must be a callable (item) -> key, got 'user'"),
])
def test_bad_stage_options_name_rule_and_value(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        rate_limit(limiter(VirtualClock()), **options)
    assert str(info.value) == message


class CountingLimiter(RateLimiter):
    """Counts the decisions the stage asks for, synchronous and awaited."""

    decisions = 0
    awaited = 0

    def _attempt_nowait(self, cost: float, key: Any) -> Decision:
        self.decisions += 1
        return super()._attempt_nowait(cost, key)

    async def _attempt(self, cost: float, key: Any) -> Decision:
        self.awaited += 1
        return await super()._attempt(cost, key)


class CountingClock(VirtualClock):
    """Counts the sleeps taken on it."""

    sleeps = 0

    async def sleep(self, delay: float) -> None:
        self.sleeps += 1
        await super().sleep(delay)


def by_key(item: tuple[str, int]) -> str:
    return item[0]


async def test_a_chunk_that_fits_passes_with_one_decision_per_key() -> None:
    # #11: while tokens suffice a chunk passes in the call that brought it, one decision
    # for each key's total cost, with no task in between.
    clock = VirtualClock()
    counting = CountingLimiter("api", TokenBucket(rate=1, burst=10_000), clock=clock,
                               bus=EventBus())
    items = [(f"k{i % 3}", i) for i in range(300)]
    downstream: TestSubscriber[tuple[str, int]] = TestSubscriber(initial_request=1000)
    stage = rate_limit(counting, key=by_key, max_pending=100)
    from_iterable(items, chunk_size=100).pipe(stage).subscribe(downstream)
    await clock.advance(0)
    assert downstream.items == items
    assert counting.decisions == 9  # 3 chunks x 3 keys
    assert counting.awaited == 0
    assert counting.statistics().allowed == 300
    assert clock.pending_timers == 0  # nothing waits, nothing sleeps


async def test_waiting_items_are_woken_per_key_not_per_item() -> None:
    clock = CountingClock()
    per_key = RateLimiter("api", TokenBucket(rate=10, burst=1), clock=clock,
                          bus=EventBus())
    items = [(f"k{i % 3}", i) for i in range(30)]
    out: list[tuple[str, int]] = []
    task = asyncio.create_task(from_iterable(items).pipe(
        rate_limit(per_key, key=by_key), op.map(out.append)).run())
    await settle(clock, 1.0, step=0.01)
    assert len(out) == 30
    assert out == sorted(out, key=lambda item: (item[1] // 3, item[0]))  # in turns, by key
    # The three lines wait for the same moments: one nap per moment, not one per item.
    assert clock.sleeps <= 11
    await task


async def test_a_new_head_due_before_the_runner_wakes_asks_at_its_own_time() -> None:
    clock = VirtualClock()
    per_key = RateLimiter("api", TokenBucket(rate=1, burst=2), clock=clock, bus=EventBus())
    stamps: list[tuple[str, int, float]] = []

    async def items() -> AsyncIterator[tuple[str, int]]:
        yield ("a", 1)
        yield ("a", 2)  # costs 2: may pass at 2.0, so the runner naps until then
        await clock.sleep(0.5)
        for i in (1, 2, 3):
            yield ("b", i)  # b3 may pass at 1.5, before the runner would wake

    def stamp(item: tuple[str, int]) -> None:
        stamps.append((*item, clock.now()))

    task = asyncio.create_task(from_async_iterable(items).pipe(
        rate_limit(per_key, key=by_key, cost=lambda item: 2 if item[0] == "a" else 1),
        op.map(stamp)).run())
    await settle(clock, 2.5)
    await task
    assert [(user, i) for user, i, _ in stamps] == [("a", 1), ("b", 1), ("b", 2), ("b", 3),
                                                   ("a", 2)]
    assert [t for _, _, t in stamps] == pytest.approx([0.0, 0.5, 0.5, 1.5, 2.0])


async def test_a_chunk_that_only_partly_fits_keeps_order_per_key_and_settles_every_ack() -> None:
    clock = VirtualClock()
    per_key = RateLimiter("api", TokenBucket(rate=10, burst=3), clock=clock, bus=EventBus())
    items = [("a", i) if i % 2 else ("b", i) for i in range(12)]
    acks = AckRecorder()
    out: list[tuple[str, int]] = []
    task = asyncio.create_task(from_iterable(items, ack=acks.ack, chunk_size=12).pipe(
        rate_limit(per_key, key=by_key, max_pending=12), op.map(out.append)).run())
    await clock.advance(0)
    assert sorted(out) == sorted([x for x in items if x[1] in (0, 1, 2, 3, 4, 5)])
    await settle(clock, 0.5, step=0.1)
    await task
    for user in ("a", "b"):
        assert [x for x in out if x[0] == user] == [x for x in items if x[0] == user]
    assert acks.completed_exactly_once(items)


async def test_cancelling_abandons_the_waiting_items_and_unfinished_rejections() -> None:
    # #9/#11: every ack settles once on every ending — items waiting in lines and items whose
    # async on_reject was under way are abandoned (not processed), the passed ones are done.
    clock = VirtualClock()
    acks = AckRecorder()
    hold = asyncio.Event()

    async def slow_reject(item: tuple[str, int], decision: Decision) -> None:
        await hold.wait()

    items = [("hot", i) for i in range(12)] + [("cold", i) for i in range(3)]
    task = asyncio.create_task(from_iterable(items, ack=acks.ack).pipe(
        rate_limit(limiter(clock, rate=1, burst=1), key=by_key, max_pending_per_key=4,
                   on_reject=slow_reject),
        op.sink(lambda _: None)).run())
    await clock.advance(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.advance(0)
    assert acks.settled_exactly_once(items), acks.describe()
    assert set(acks.done) == {("hot", 0), ("cold", 0)}
    assert len(acks.abandoned) == len(items) - 2


# ---------------------------------------------------------------- impossible costs
async def test_a_cost_that_can_never_pass_says_so_as_the_limiter_does() -> None:
    clock = VirtualClock()
    big = RateLimiter("big", TokenBucket(rate=10, burst=2), clock=clock)
    with pytest.raises(RateLimitExceeded) as direct:
        await big.acquire(5)
    with pytest.raises(RateLimitExceeded) as staged:  # a cost known only per item
        await from_iterable([0]).pipe(rate_limit(big, cost=lambda item: 5)).to_list()
    assert str(staged.value) == (
        f"stage 'rate_limit:big': rate limiter 'big' refused item 0: "
        f"{str(direct.value).removeprefix('rate limiter ' + repr('big') + ': ')}")
    assert str(staged.value).endswith(
        "cost 5 can never pass: it exceeds the limit 2 of 'big'; split the item or raise the "
        "limit")


def test_a_constant_cost_that_can_never_pass_is_refused_when_built() -> None:
    clock = VirtualClock()
    with pytest.raises(ConfigError) as info:
        rate_limit(RateLimiter("big", TokenBucket(rate=10, burst=2), clock=clock), cost=5)
    assert str(info.value) == (
        "rate_limit: cost 5 can never pass: it exceeds the limit 2 of 'big'; split the item or "
        "raise the limit, got 5")
    composite = CompositeLimiter("api", [Tier(name="global", algorithm=TokenBucket(
        rate=100, burst=10)), Tier(name="user", algorithm=TokenBucket(rate=1, burst=3),
                                   key=lambda item: item)], clock=clock)
    with pytest.raises(ConfigError, match="cost 4 can never pass: it exceeds the limit 3 of "
                                          "'api/user'"):
        rate_limit(composite, cost=4)
    rate_limit(composite, cost=3)  # at the limit: it passes once the tier is full


# ---------------------------------------------------------------- storage outage
async def test_items_a_failing_open_limiter_admits_at_once_count_as_allowed() -> None:
    # Nothing listens on port 1: every decision is an outage decision, admitted (fail open)
    # without waiting, so it is "allowed", not "delayed", however long the failed round trip
    # took. The real clock on purpose: on a virtual one no time passes during it.
    down = RateLimiter("down", TokenBucket(rate=1, burst=1), storage="redis://127.0.0.1:1/0")
    try:
        out = await from_iterable(range(20)).pipe(rate_limit(down)).to_list()
    finally:
        await down.aclose()
    assert out == list(range(20))
    stats = down.statistics()
    assert (stats.allowed, stats.delayed, stats.rejected) == (20, 0, 0)
    assert stats.outage_decisions == 20
