"""Every ack the guarded sink receives settles exactly once, on every ending: run to the end,
cancelled while calls are in flight or items wait on an open breaker, or failed by an item.

(The shared contract registry, ``tests/contracts/cases_guard.py``, puts the same cases through
the random-pipeline property test; these are the endings that matter most for a guarded sink,
each checked deterministically.)"""

from __future__ import annotations

import asyncio

import pytest

from streamguard import from_iterable
from streamguard.breaker import BreakerConfig, CircuitBreaker
from streamguard.core import ItemFailedError
from streamguard.guard import guarded_sink
from streamguard.retry import RetryConfig
from streamguard.testing import AckRecorder, VirtualClock

from ..contracts import registry

GUARD_CASES = sorted(n for n in registry.STAGES if n.startswith("guarded_sink"))


def test_the_guarded_sink_is_in_the_contract_registry() -> None:
    assert GUARD_CASES == ["guarded_sink", "guarded_sink_dead_letter", "guarded_sink_guarded"]
    assert all(registry.STAGES[n].sink for n in GUARD_CASES)


@pytest.mark.parametrize("case", GUARD_CASES)
async def test_run_to_the_end_completes_every_item(case: str) -> None:
    acks = AckRecorder()
    await from_iterable(range(60), ack=acks.ack).pipe(registry.STAGES[case].make()).run()
    assert acks.completed_exactly_once(range(60)), acks.describe()


@pytest.mark.parametrize("case", GUARD_CASES)
@pytest.mark.parametrize("turns", [0, 1, 3, 7, 20])
async def test_a_cancel_at_any_point_settles_every_ack_once(case: str, turns: int) -> None:
    acks = AckRecorder()
    run = asyncio.create_task(from_iterable(range(60), ack=acks.ack, chunk_size=5).pipe(
        registry.STAGES[case].make()).run())
    for _ in range(turns):
        await asyncio.sleep(0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    for _ in range(5):
        await asyncio.sleep(0)
    assert acks.settled_exactly_once(), acks.describe()


async def test_items_waiting_on_an_open_breaker_are_abandoned_on_cancel() -> None:
    clock, acks = VirtualClock(), AckRecorder()
    breaker = CircuitBreaker("down", BreakerConfig(window_size=2, minimum_calls=2,
                                                   open_duration=60), clock=clock)

    async def down(item: int) -> None:
        raise ConnectionError("down")

    run = asyncio.create_task(from_iterable(range(20), ack=acks.ack).pipe(guarded_sink(
        down, breaker=breaker, retry=RetryConfig(attempts=2, backoff="exponential"),
        concurrency=4, clock=clock)).run())
    await clock.advance(1)
    assert breaker.statistics().state.value == "OPEN"
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.sleep(0)
    assert acks.settled_exactly_once(), acks.describe()
    assert acks.abandoned  # held, not processed: a Kafka source would deliver them again
    assert not acks.done


async def test_an_item_that_fails_the_stream_settles_every_ack_once() -> None:
    acks = AckRecorder()

    async def poison(item: int) -> None:
        await asyncio.sleep(0)
        if item == 13:
            raise ValueError("poison")

    with pytest.raises(ItemFailedError):
        await from_iterable(range(60), ack=acks.ack).pipe(
            guarded_sink(poison, concurrency=4)).run()
    await asyncio.sleep(0)
    assert acks.settled_exactly_once(), acks.describe()
    assert list(acks.failed) == [13]  # the poison item fails; the others are done or abandoned
