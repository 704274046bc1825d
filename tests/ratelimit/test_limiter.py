"""The limiter on a virtual clock: keys and bounded memory, waiting in line, cancellation,
penalties, events and statistics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.core import ConfigError, EventBus
from streamguard.ratelimit import (
    GCRA,
    CompositeLimiter,
    FixedWindow,
    LeakyBucketShaper,
    MemoryStorage,
    RateLimitDecided,
    RateLimiter,
    RateLimitExceeded,
    SlidingWindowLog,
    Tier,
    TokenBucket,
)
from streamguard.ratelimit.algorithms import Algorithm, State
from streamguard.testing import VirtualClock


def make(algorithm: Algorithm, clock: VirtualClock, bus: EventBus | None = None,
         **options: Any) -> RateLimiter:
    return RateLimiter("api", algorithm, clock=clock, bus=bus or EventBus(), **options)


# ---------------------------------------------------------------- keys and memory
@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40).map(lambda k: k / 100), st.integers(0, 30)),
                max_size=400),
       st.sampled_from([TokenBucket(rate=5, burst=2), FixedWindow(limit=2, window=0.3),
                        SlidingWindowLog(limit=2, window=0.3), GCRA(rate=3, burst=1)]))
def test_evicting_idle_keys_never_changes_a_decision(arrivals: list[tuple[float, int]],
                                                      algorithm: Algorithm) -> None:
    clock = VirtualClock()
    limiter = make(algorithm, clock)
    kept: dict[int, State] = {}  # the same states, never evicted
    for gap, key in arrivals:
        clock.tick(gap)
        state = kept.setdefault(key, algorithm.new_state("api"))
        expected = state.decide(clock.now(), 1.0)
        assert limiter.try_acquire(key=key).allowed == expected.allowed


def test_idle_keys_are_forgotten_so_memory_follows_active_keys() -> None:
    clock = VirtualClock()
    limiter = make(TokenBucket(rate=10, burst=1), clock)
    for key in range(10_000):  # 100 new keys per second, each idle 0.1 s after its use
        clock.tick(0.01)
        assert limiter.try_acquire(key=key).allowed
    assert limiter.statistics().keys <= 20


def test_max_keys_forgets_the_least_recently_used() -> None:
    clock = VirtualClock()
    storage = MemoryStorage(max_keys=100)
    limiter = RateLimiter("api", TokenBucket(rate=0.001, burst=1), storage=storage,
                          clock=clock, bus=EventBus())
    for key in range(1000):
        limiter.try_acquire(key=key)
    assert limiter.statistics().keys == 100 + 1  # plus the pinned key-less state
    assert storage.table("api", limiter.algorithm).forced_evictions == 900
    assert not limiter.try_acquire(key=999).allowed  # recent keys are remembered
    assert limiter.try_acquire(key=0).allowed         # the oldest was forgotten


def test_one_name_with_two_policies_is_a_config_error() -> None:
    storage = MemoryStorage()
    RateLimiter("api", TokenBucket(rate=1), storage=storage)
    with pytest.raises(ConfigError, match="limiter name 'api' is already bound to"):
        RateLimiter("api", TokenBucket(rate=2), storage=storage)


@pytest.mark.parametrize(("options", "message"), [
    ({"name": ""}, "name must be a non-empty string, got ''"),
    ({"failure_mode": "maybe"}, 'failure_mode must be "open" or "closed", got \'maybe\''),
    ({"outage_probe": 0}, "outage_probe must be > 0 seconds, got 0"),
])
def test_bad_limiter_options_name_rule_and_value(options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"name": "api", **options}
    with pytest.raises(ConfigError) as info:
        RateLimiter(algorithm=TokenBucket(rate=1), **arguments)
    assert str(info.value) == message


def test_an_algorithm_is_required() -> None:
    with pytest.raises(ConfigError, match="algorithm must be an Algorithm"):
        RateLimiter("api", "10/s")  # type: ignore[arg-type]


_TB: Any = TokenBucket(rate=1, burst=1)


@pytest.mark.parametrize(("tiers", "message"), [
    ([_TB], f"tiers[0]: each tier must be a Tier(name=..., algorithm=...), got {_TB!r}"),
    ([Tier(name="a", algorithm=_TB), "b"],
     "tiers[1]: each tier must be a Tier(name=..., algorithm=...), got 'b'"),
    (_TB, f"tiers must be a list of Tier(name=..., algorithm=...), got {_TB!r}"),
    (Tier(name="a", algorithm=_TB), "tiers must be a list of Tier(name=..., algorithm=...), "
     f"got {Tier(name='a', algorithm=_TB)!r}"),
    ([], "a composite limiter needs at least one tier, got 0"),
])
def test_composite_tiers_must_be_tiers(tiers: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        CompositeLimiter("api", tiers)
    assert str(info.value) == message


# ---------------------------------------------------------------- waiting
async def test_waiters_of_one_key_pass_in_arrival_order() -> None:
    clock = VirtualClock()
    limiter = make(GCRA(rate=10, burst=1), clock)
    await limiter.acquire()
    passed: list[str] = []

    async def wait(name: str, cost: float) -> None:
        await limiter.acquire(cost)
        passed.append(name)

    tasks = [asyncio.create_task(wait(n, c)) for n, c in (("a", 1), ("big", 1), ("c", 1))]
    await clock.advance(0)
    assert not limiter.try_acquire().allowed  # no barging past the queue
    for _ in range(4):
        await clock.advance(0.1)
    await asyncio.gather(*tasks)
    assert passed == ["a", "big", "c"]
    assert limiter.statistics().delayed == 3


async def test_a_waiting_hot_key_does_not_hold_up_other_keys() -> None:
    clock = VirtualClock()
    limiter = make(TokenBucket(rate=1, burst=1), clock)
    await limiter.acquire(key="hot")
    hot = [asyncio.create_task(limiter.acquire(key="hot")) for _ in range(5)]
    await clock.advance(0)
    cold = asyncio.create_task(limiter.acquire(key="cold"))
    await clock.advance(0)
    assert cold.done()
    assert cold.result() == 0.0
    assert not any(t.done() for t in hot)
    await clock.advance(5)
    assert all(t.done() for t in hot)
    assert [t.result() for t in hot] == pytest.approx([1, 2, 3, 4, 5])


async def test_cancelling_a_waiter_gives_everything_back() -> None:
    clock = VirtualClock()
    limiter = make(TokenBucket(rate=1, burst=1), clock)
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await clock.advance(0.5)
    first.cancel()
    await clock.advance(0.5)
    assert second.done()
    assert second.result() == pytest.approx(1.0)  # the token the cancelled one would have had
    assert limiter.statistics().waiting == 0
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_timeout_gives_up_in_line_too() -> None:
    clock = VirtualClock()
    limiter = make(TokenBucket(rate=1, burst=1), clock)
    await limiter.acquire()
    ahead = asyncio.create_task(limiter.acquire())
    behind = asyncio.create_task(limiter.acquire(timeout=1.5))
    await clock.advance(1.0)
    assert ahead.done()
    await clock.advance(0.6)
    with pytest.raises(RateLimitExceeded, match=r"cannot pass within timeout=1\.5 s"):
        await behind
    assert limiter.statistics().rejected == 1


async def test_a_full_shaper_queue_refuses_at_once() -> None:
    clock = VirtualClock()
    limiter = make(LeakyBucketShaper(rate=10, capacity=2), clock)
    await limiter.acquire()
    queued = [asyncio.create_task(limiter.acquire()) for _ in range(2)]
    await clock.advance(0)
    with pytest.raises(RateLimitExceeded, match=r"queue of key None is full \(2 of 2 waiting"):
        await limiter.acquire()
    await clock.advance(0.2)
    assert [t.result() for t in queued] == pytest.approx([0.1, 0.2])


async def test_the_shaper_spaces_items_evenly() -> None:
    clock = VirtualClock()
    limiter = make(LeakyBucketShaper(rate=4, capacity=10), clock)
    tasks = [asyncio.create_task(limiter.acquire()) for _ in range(6)]
    await clock.advance(2)
    assert [t.result() for t in tasks] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0, 1.25])


async def test_async_with_waits_for_one_unit() -> None:
    clock = VirtualClock()
    limiter = make(GCRA(rate=2, burst=1), clock)
    async with limiter:
        pass
    task = asyncio.create_task(limiter.acquire())
    await clock.advance(0.5)
    assert task.done()


async def test_penalty_holds_waiters_until_it_ends() -> None:
    clock = VirtualClock()
    limiter = make(TokenBucket(rate=100, burst=10), clock)
    await limiter.penalize("3")
    waiter = asyncio.create_task(limiter.acquire())
    await clock.advance(2.9)
    assert not waiter.done()
    await clock.advance(0.2)
    assert waiter.result() == pytest.approx(3.0)


async def test_composite_waits_for_the_binding_tier() -> None:
    clock = VirtualClock()
    limiter = CompositeLimiter("api", clock=clock, bus=EventBus(), tiers=[
        Tier(name="global", algorithm=TokenBucket(rate=100, burst=100)),
        Tier(name="user", algorithm=TokenBucket(rate=1, burst=1), key=lambda user: user),
    ])
    assert await limiter.acquire(key="alice") == 0.0
    waiter = asyncio.create_task(limiter.acquire(key="alice"))
    await clock.advance(1.0)
    assert waiter.result() == pytest.approx(1.0)
    assert limiter.try_acquire(key="bob").tiers[0].remaining == pytest.approx(97, abs=1)


# ---------------------------------------------------------------- events and statistics
async def test_every_decision_is_an_event() -> None:
    clock = VirtualClock()
    bus = EventBus()
    seen: list[RateLimitDecided] = []
    bus.subscribe(seen.append)
    limiter = make(TokenBucket(rate=1, burst=1), clock, bus)
    await limiter.acquire(key="k")
    assert not limiter.try_acquire(key="k").allowed
    waiter = asyncio.create_task(limiter.acquire(key="k"))
    await clock.advance(1)
    await waiter
    assert [(e.result, e.key, e.waited) for e in seen] == [
        ("allowed", "k", 0.0), ("rejected", "k", 0.0), ("delayed", "k", 1.0)]
    assert all(e.source == e.limiter == "api" for e in seen)
    assert seen[1].decision.retry_after == pytest.approx(1.0)
    stats = limiter.statistics()
    assert (stats.allowed, stats.delayed, stats.rejected) == (1, 1, 1)


async def test_the_fast_path_and_the_observed_path_decide_alike() -> None:
    clock = VirtualClock()
    quiet = make(TokenBucket(rate=3, burst=2), clock)
    bus = EventBus()
    bus.subscribe(lambda event: None)
    observed = make(TokenBucket(rate=3, burst=2), clock, bus)
    for gap in [0, 0, 0.1, 0.3, 0.2, 0, 0.5]:
        clock.tick(gap)
        a = [quiet.try_acquire(key="k"), quiet.try_acquire()]
        b = [observed.try_acquire(key="k"), observed.try_acquire()]
        assert a == b


@pytest.mark.parametrize("cost", [0, -1, float("nan")])
async def test_a_cost_must_be_positive(cost: float) -> None:
    limiter = make(TokenBucket(rate=1, burst=1), VirtualClock())
    with pytest.raises(ConfigError, match="cost must be a number > 0"):
        limiter.try_acquire(cost)
    with pytest.raises(ConfigError, match="cost must be a number > 0"):
        await limiter.decide(cost)
    with pytest.raises(ConfigError, match="cost must be a number > 0"):
        await limiter.acquire(cost)
