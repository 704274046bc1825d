"""The guarded sink on a virtual clock: backpressure while open, routing, acks, timeouts."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard.breaker import BreakerConfig, CircuitBreaker, CircuitOpenError, State
from streamguard.core import ConfigError, EventBus, ItemFailedError
from streamguard.guard import DeliveryError, ItemDeadLettered, ItemFellBack, guarded_sink
from streamguard.retry import Retry, RetryAttempted, RetryConfig, RetryError
from streamguard.testing import AckRecorder, VirtualClock

QUICK = BreakerConfig(window_size=4, minimum_calls=4, open_duration=10)


class Downstream:
    """A fake downstream: fails while ``down``, records what it accepted."""

    def __init__(self, clock: VirtualClock, latency: float = 0.0) -> None:
        self.clock = clock
        self.latency = latency
        self.down = False
        self.accepted: list[int] = []
        self.requests = 0

    async def __call__(self, item: int) -> None:
        self.requests += 1
        if self.latency:
            await self.clock.sleep(self.latency)
        if self.down:
            raise ConnectionError(f"refused {item}")
        self.accepted.append(item)


class Source:
    """A lazy source that records how many items were pulled (pulled only under demand)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pulled = 0

    def __iter__(self) -> Iterator[int]:
        for i in range(self.n):
            self.pulled += 1
            yield i


def setup(config: BreakerConfig = QUICK) -> tuple[VirtualClock, EventBus, CircuitBreaker,
                                                   list[Any]]:
    clock, bus = VirtualClock(), EventBus()
    events: list[Any] = []
    bus.subscribe(events.append)
    return clock, bus, CircuitBreaker("payments", config, clock=clock, bus=bus), events


async def test_delivers_every_item_and_acks_each_once() -> None:
    clock, bus, breaker, _ = setup()
    down, acks = Downstream(clock), AckRecorder()
    result = await from_iterable(range(50), ack=acks.ack).pipe(
        guarded_sink(down, breaker=breaker, concurrency=4, clock=clock)).run(bus=bus)
    assert sorted(down.accepted) == list(range(50))
    assert acks.completed_exactly_once(range(50))
    assert not acks.failed
    assert result.statistics[-1].emitted == 50


async def test_backpressure_while_open_nothing_dropped() -> None:
    clock, bus, breaker, events = setup()
    down, acks, source = Downstream(clock, latency=0.1), AckRecorder(), Source(200)
    down.down = True
    run = asyncio.create_task(from_iterable(source, ack=acks.ack, chunk_size=1).pipe(
        guarded_sink(down, breaker=breaker, retry=RetryConfig(attempts=3), concurrency=4,
                     clock=clock)).run(bus=bus))
    await clock.advance(0.5)
    assert breaker.state is State.OPEN
    pulled, requests = source.pulled, down.requests
    await clock.advance(9.0)  # open: no new demand upstream, no calls downstream
    assert source.pulled == pulled
    assert down.requests == requests
    assert not acks.done  # the 4 taken items wait: neither acked...
    assert not acks.failed  # ...nor failed

    await clock.advance(1.0)  # half-open: exactly one waiting item goes as the probe
    assert down.requests == requests + 1
    await clock.advance(0.2)
    assert breaker.state is State.OPEN  # the probe failed
    down.down = False
    for _ in range(60):
        await clock.advance(1.0)
    await run
    assert sorted(down.accepted) == list(range(200))  # every item, once
    assert acks.completed_exactly_once(range(200))
    assert not acks.failed
    assert any(getattr(e, "to_state", None) is State.HALF_OPEN for e in events)


async def test_fail_mode_names_item_and_breaker() -> None:
    clock, bus, breaker, _ = setup()
    breaker.force_open()
    acks = AckRecorder()
    with pytest.raises(ItemFailedError) as info:
        await from_iterable([7], ack=acks.ack).pipe(
            guarded_sink(Downstream(clock), breaker=breaker, on_open="fail",
                         clock=clock, name="pay")).run(bus=bus)
    assert str(info.value).startswith(
        "stage 'pay' failed on item 7: CircuitOpenError: CircuitBreaker 'payments' is "
        "FORCED_OPEN and does not permit further calls")
    assert isinstance(info.value.__cause__, CircuitOpenError)
    assert acks.failed[7] == 1
    assert not acks.done


async def test_dead_letter_mode_routes_refused_items_with_the_reason() -> None:
    clock, bus, breaker, events = setup()
    breaker.force_open()
    parked: list[tuple[int, BaseException]] = []
    acks = AckRecorder()
    result = await from_iterable(range(5), ack=acks.ack).pipe(
        guarded_sink(Downstream(clock), breaker=breaker, on_open="dead_letter",
                     dead_letter=lambda item, err: parked.append((item, err)),
                     clock=clock)).run(bus=bus)
    assert [item for item, _ in parked] == list(range(5))
    assert all(isinstance(err, CircuitOpenError) for _, err in parked)
    assert acks.completed_exactly_once(range(5))
    assert result.statistics[-1].rejected == 5
    dead = [e for e in events if isinstance(e, ItemDeadLettered)]
    assert [e.reason for e in dead] == ["breaker_open"] * 5


async def test_fallback_mode() -> None:
    clock, bus, breaker, events = setup()
    breaker.force_open()
    handled: list[int] = []

    async def fallback(item: int, error: BaseException) -> None:
        handled.append(item)

    await from_iterable(range(3)).pipe(
        guarded_sink(Downstream(clock), breaker=breaker, on_open="fallback",
                     fallback=fallback, clock=clock)).run(bus=bus)
    assert handled == [0, 1, 2]
    assert len([e for e in events if isinstance(e, ItemFellBack)]) == 3


async def test_exhausted_retries_go_to_the_dead_letter_sink() -> None:
    clock, bus, breaker, events = setup(BreakerConfig(window_size=20, minimum_calls=20))
    down = Downstream(clock)
    down.down = True
    parked: list[int] = []
    acks = AckRecorder()

    async def park(item: int, error: BaseException) -> None:
        parked.append(item)
        assert isinstance(error, RetryError)

    run = asyncio.create_task(from_iterable(range(3), ack=acks.ack).pipe(guarded_sink(
        down, breaker=breaker, retry=RetryConfig(attempts=2, backoff="exponential"),
        dead_letter=park, clock=clock)).run(bus=bus))
    for _ in range(10):
        await clock.advance(0.1)
    await run
    assert parked == [0, 1, 2]
    assert down.requests == 6
    assert acks.completed_exactly_once(range(3))
    # The retry's own code: one vocabulary for the retry's and the guarded sink's metrics.
    assert {e.reason for e in events if isinstance(e, ItemDeadLettered)} == {
        "attempts_exhausted"}
    # the retry built from the RetryConfig publishes on the pipeline's bus, named after the stage
    attempts = [e for e in events if isinstance(e, RetryAttempted)]
    assert [(e.source, e.attempt) for e in attempts] == [("guarded_sink", 2)] * 3


async def test_exhausted_retries_without_dead_letter_fail_the_stream() -> None:
    clock, bus, breaker, _ = setup(BreakerConfig(window_size=20, minimum_calls=20))
    down = Downstream(clock)
    down.down = True
    retry = Retry("pay", RetryConfig(attempts=2, backoff="exponential"), clock=clock,
                  rng=random.Random(0), bus=bus)
    run = asyncio.create_task(from_iterable([41]).pipe(guarded_sink(
        down, breaker=breaker, retry=retry, clock=clock, name="pay")).run(bus=bus))
    await clock.advance(1)
    with pytest.raises(ItemFailedError) as info:
        await run
    assert str(info.value) == (
        "stage 'pay' failed on item 41: DeliveryError: guarded_sink 'pay' did not deliver the "
        "item (attempts exhausted; CircuitBreaker 'payments' is CLOSED); last error: "
        "RetryError: Retry 'pay' gave up on Downstream(41) after 2 attempts (attempts "
        "exhausted): ConnectionError: refused 41; pass dead_letter= to route such items "
        "instead of failing the stream")
    assert isinstance(info.value.__cause__, DeliveryError)
    assert isinstance(info.value.__cause__.__cause__, RetryError)


async def test_a_timeout_counts_as_a_failure() -> None:
    clock, bus, breaker, _ = setup(BreakerConfig(window_size=2, minimum_calls=2))
    down = Downstream(clock, latency=5.0)
    parked: list[BaseException] = []
    run = asyncio.create_task(from_iterable(range(2)).pipe(guarded_sink(
        down, breaker=breaker, timeout=1.0, on_open="dead_letter",
        dead_letter=lambda i, e: parked.append(e),
        clock=clock)).run(bus=bus))
    await clock.advance(1.0)
    await clock.advance(1.0)
    await run
    assert [type(e) for e in parked] == [TimeoutError, TimeoutError]
    assert down.accepted == []
    assert breaker.state is State.OPEN


async def test_cancelling_the_pipeline_acks_nothing_and_counts_nothing() -> None:
    clock, bus, breaker, _ = setup()
    acks = AckRecorder()
    run = asyncio.create_task(from_iterable(range(10), ack=acks.ack).pipe(guarded_sink(
        Downstream(clock, latency=100), breaker=breaker, concurrency=3,
        clock=clock)).run(bus=bus))
    await clock.advance(1)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert not acks.done
    assert breaker.statistics().calls == 0


async def test_demand_resumes_when_the_breaker_half_opens_with_nothing_held() -> None:
    clock, bus, breaker, _ = setup(BreakerConfig(window_size=1, minimum_calls=1,
                                                 open_duration=5))
    breaker.on_failure(await breaker.acquire(), ConnectionError("opened by another user"))
    down, source = Downstream(clock), Source(20)
    run = asyncio.create_task(from_iterable(source, chunk_size=1).pipe(guarded_sink(
        down, breaker=breaker, concurrency=4, clock=clock)).run(bus=bus))
    await clock.advance(4)
    assert source.pulled == 0  # open: the stage asked for nothing
    await clock.advance(1)  # half-open: a watcher asks for items, one becomes the probe
    await run
    assert down.accepted == list(range(20))


async def test_routing_modes_keep_taking_items_while_open() -> None:
    clock, bus, breaker, _ = setup()
    breaker.force_open()
    parked: list[int] = []
    await from_iterable(range(100)).pipe(guarded_sink(
        Downstream(clock), breaker=breaker, on_open="dead_letter",
        dead_letter=lambda i, e: parked.append(i), clock=clock)).run(bus=bus)
    assert parked == list(range(100))


async def test_a_poison_item_gives_up_while_the_breaker_stays_closed() -> None:
    clock, bus, breaker, events = setup(BreakerConfig(window_size=20, minimum_calls=20))
    accepted: list[int] = []
    parked: list[int] = []

    async def call(item: int) -> None:
        if item == 42:
            raise ConnectionError("this one never goes through")
        if item == 7:
            raise ValueError("malformed")
        accepted.append(item)

    run = asyncio.create_task(from_iterable(range(100)).pipe(guarded_sink(
        call, breaker=breaker, concurrency=8, clock=clock,
        retry=RetryConfig(attempts=3, retry_on=(ConnectionError,)),
        dead_letter=lambda i, e: parked.append(i))).run(bus=bus))
    for _ in range(10):
        await clock.advance(1)
    await run
    assert sorted(parked) == [7, 42]
    assert sorted(accepted + parked) == list(range(100))
    reasons = {e.reason for e in events if isinstance(e, ItemDeadLettered)}
    assert reasons == {"attempts_exhausted", "not_retryable"}


async def test_tries_running_out_just_before_the_breaker_opens_is_no_reason_to_give_up() -> None:
    # Items 0 and 1 each fail twice at the same instants; item 0's last failure is the 3rd
    # the breaker sees, item 1's the 4th, which opens it. Item 0 ran out of tries while the
    # breaker was still closed, yet the downstream was down for everyone: it must wait.
    clock, bus, breaker, _ = setup(BreakerConfig(window_size=4, minimum_calls=4,
                                                 open_duration=1))
    down, parked = Downstream(clock, latency=0.01), []
    down.down = True
    run = asyncio.create_task(from_iterable(range(2)).pipe(guarded_sink(
        down, breaker=breaker, concurrency=2, clock=clock,
        retry=RetryConfig(attempts=2, backoff="exponential", base_delay=0.1),
        dead_letter=lambda i, e: parked.append(i))).run(bus=bus))
    await clock.advance(0.5)
    assert breaker.state is State.OPEN
    down.down = False
    await clock.advance(2)
    await run
    assert parked == []
    assert sorted(down.accepted) == [0, 1]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"concurrency": 0},
     "concurrency must be an int >= 1 or an AdaptiveLimit (a ConcurrencyLimit), got 0"),
    ({"concurrency": True},
     "concurrency must be an int >= 1 or an AdaptiveLimit (a ConcurrencyLimit), got True"),
    ({"timeout": 0}, "timeout must be a number > 0 (seconds) or None, got 0"),
    ({"on_open": "drop"},
     "on_open must be 'backpressure', 'fail', 'dead_letter' or 'fallback', got 'drop'"),
    ({"on_open": "dead_letter"}, "on_open='dead_letter' needs a dead_letter sink, got None"),
    ({"on_open": "fallback"}, "on_open='fallback' needs a fallback, got None"),
    ({"retry": 3}, "retry must be a Retry, a RetryConfig or None, got 3"),
    ({"dead_letter": "park"},
     "dead_letter must be a callable (item, error), sync or async, got 'park'"),
])
def test_config_rules(kwargs: dict[str, Any], message: str) -> None:
    async def call(item: int) -> None:
        pass

    with pytest.raises(ConfigError, match=f"^guarded_sink: {re.escape(message)}$"):
        guarded_sink(call, **kwargs)
