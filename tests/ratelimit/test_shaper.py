"""The leaky-bucket shaper keeps its rate when timers fire late (#9, item 7), in virtual time.

A :class:`LateClock` wakes every sleeper up to ``lateness`` seconds after its deadline, as a busy
event loop does. Before the fix each late wake was lost for good (the next slot started at the
late moment): at 2,000/s with up to 2 ms of lateness the shaper delivered about a third of its
rate.
"""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.ratelimit import LeakyBucketShaper, RateLimiter, rate_limit
from streamguard.testing import VirtualClock

from ._simulate import max_in_window, offer

RATE, CAPACITY, SECONDS = 2000.0, 20.0, 3.0


class LateClock(VirtualClock):
    """A virtual clock whose sleepers wake late by a random 0 .. *lateness* seconds."""

    def __init__(self, lateness: float, seed: int = 7) -> None:
        super().__init__()
        self._lateness = lateness
        self._random = random.Random(seed)

    async def sleep(self, delay: float) -> None:
        await super().sleep(delay + self._random.uniform(0.0, self._lateness))


def shaper(clock: VirtualClock) -> RateLimiter:
    return RateLimiter("shaper", LeakyBucketShaper(rate=RATE, capacity=CAPACITY),
                       clock=clock, bus=EventBus())


async def run_for(clock: VirtualClock, seconds: float, step: float = 0.01) -> None:
    for _ in range(round(seconds / step)):
        await clock.advance(step, settle=12)


def check(stamps: list[float]) -> None:
    inside = [t for t in stamps if t < SECONDS]
    assert len(inside) == pytest.approx(RATE * SECONDS, rel=0.01)
    # Never ahead of schedule: from the start, at most one item per 1/rate (plus the first).
    for k, when in enumerate(inside):
        assert k <= RATE * when + 1 + 1e-6
    # Catch-up is bounded: at most capacity + 1 beyond rate * w in any window.
    admitted = [(t, 1.0) for t in inside]
    for width in (0.0005, 0.005, 0.1):
        assert max_in_window(admitted, width, closed=True) <= RATE * width + CAPACITY + 1 + 1e-6


@pytest.mark.parametrize("lateness", [0.0, 0.0008, 0.002])
async def test_acquire_keeps_the_rate_when_timers_fire_late(lateness: float) -> None:
    clock = LateClock(lateness)
    limiter = shaper(clock)
    stamps: list[float] = []

    async def hungry() -> None:
        while True:
            await limiter.acquire()
            stamps.append(clock.now())

    task = asyncio.create_task(hungry())
    await run_for(clock, SECONDS + 0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    check(stamps)


@pytest.mark.parametrize("lateness", [0.0, 0.0008, 0.002])
async def test_the_stage_keeps_the_rate_when_timers_fire_late(lateness: float) -> None:
    clock = LateClock(lateness)
    stamps: list[float] = []
    task = asyncio.create_task(from_iterable(itertools.count()).pipe(
        rate_limit(shaper(clock)), op.map(lambda _: stamps.append(clock.now()))).run())
    await run_for(clock, SECONDS + 0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    check(stamps)


def test_on_time_callers_get_exactly_one_item_per_interval() -> None:
    # Refused callers who come back exactly when told: the on-time bound rate * w + 1 holds
    # and is reached (no catch-up is needed, none happens).
    shaper_ = LeakyBucketShaper(rate=10, capacity=5)
    admitted = offer(shaper_, [(0.0, 1.0)] + [(0.1, 1.0)] * 30)
    assert len(admitted) == 31
    assert max_in_window(admitted, 1.0, closed=True) == 11 == 10 * 1.0 + 1


def test_idle_time_is_not_credit() -> None:
    # Nobody was refused: after a quiet second the next two callers are spaced 1/rate apart.
    shaper_ = LeakyBucketShaper(rate=10, capacity=5)
    admitted = offer(shaper_, [(0.0, 1.0), (1.0, 1.0), (0.0, 1.0), (0.05, 1.0), (0.05, 1.0)])
    assert [t for t, _ in admitted] == pytest.approx([0.0, 1.0, 1.1])


def test_a_late_caller_keeps_its_slot_but_never_goes_early() -> None:
    # Refused at 0 (told: 0.1); back 0.03 s late, it keeps the slot at 0.1, so the next slot
    # is 0.2, not 0.23; a caller at 0.19 is still refused.
    shaper_ = LeakyBucketShaper(rate=10, capacity=5)
    admitted = offer(shaper_, [(0.0, 1.0), (0.0, 1.0), (0.13, 1.0), (0.06, 1.0), (0.01, 1.0)])
    assert [t for t, _ in admitted] == pytest.approx([0.0, 0.13, 0.2])
