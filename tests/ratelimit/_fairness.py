"""The fairness scenario of #9 item 6, in virtual time: one hot key and many others share a
global limit, each key also under a limit of its own.

Global 200/s (burst 10) + 5/s per user (burst 5). The source never runs dry (it is always
ahead of the limit, as a Kafka backlog is); one user, ``hot``, sends a *hot* fraction of the
items, the rest are spread over :data:`OTHERS` users in turn; with ``hot_first`` the first
:data:`HOT_FIRST` items are all the hot user's. Every user always has items to send, so the
max-min fair share of each of the ``OTHERS + 1`` users is ``min(5, 200 / (OTHERS + 1))`` per
second (plus its part of the global burst): the hot user is entitled to no more than anyone.

The test (``test_fairness.py``) and the benchmark (``benchmarks/suite_ratelimit.py``) both run
:func:`run_scenario`, so the figures in the README are the ones the test checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.ratelimit import CompositeLimiter, Tier, TokenBucket, rate_limit
from streamguard.testing import VirtualClock

GLOBAL, GLOBAL_BURST = 200.0, 10.0
PER_USER, USER_BURST = 5.0, 5.0
OTHERS = 100
HOT_FIRST = 600
SECONDS = 6.0


@dataclass(frozen=True)
class Order:
    """One item: its user and its number in the stream."""

    user: str
    n: int


@dataclass(frozen=True)
class Outcome:
    """What one run delivered and refused, per user."""

    delivered: dict[str, int]
    rejected: int
    seconds: float

    @property
    def others(self) -> int:
        """Items of every user but the hot one delivered in the run."""
        return sum(n for user, n in self.delivered.items() if user != "hot")

    @property
    def fair_share(self) -> float:
        """One user's max-min fair share of the run (every user is always hungry)."""
        users = OTHERS + 1
        return min(PER_USER, GLOBAL / users) * self.seconds + GLOBAL_BURST / users

    @property
    def others_fair_share(self) -> float:
        """What the other users together are entitled to."""
        return OTHERS * self.fair_share

    @property
    def others_share(self) -> float:
        """Others' delivered ÷ their fair share (1.0: they lost nothing to the hot key)."""
        return self.others / self.others_fair_share

    @property
    def jain(self) -> float:
        """Jain's fairness index of every user's delivered ÷ that user's fair share
        (1.0: every user got the same fraction of its share; 1/n: one user got all)."""
        share = self.fair_share
        xs = [self.delivered.get("hot", 0) / share]
        xs += [self.delivered.get(f"u{i}", 0) / share for i in range(OTHERS)]
        return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))


def orders(hot: float, hot_first: bool) -> Iterator[Order]:
    """The endless stream: a *hot* fraction for user ``hot``, the rest in turn over the
    others (the hot user's items first when *hot_first*)."""
    n = itertools.count()
    if hot_first:
        for _ in range(HOT_FIRST):
            yield Order("hot", next(n))
    other = itertools.cycle([f"u{i}" for i in range(OTHERS)])
    owed = 0.0
    while True:
        owed += hot
        if owed >= 1.0:
            owed -= 1.0
            yield Order("hot", next(n))
        else:
            yield Order(next(other), next(n))


def limiter(clock: VirtualClock) -> CompositeLimiter:
    """Global 200/s + 5/s per user."""
    return CompositeLimiter("orders", clock=clock, bus=EventBus(), tiers=[
        Tier(name="global", algorithm=TokenBucket(rate=GLOBAL, burst=GLOBAL_BURST)),
        Tier(name="user", algorithm=TokenBucket(rate=PER_USER, burst=USER_BURST),
             key=lambda order: order.user),
    ])


async def run_scenario(hot: float, *, hot_first: bool = False,
                       options: Callable[[list[Order]], dict[str, Any]] | None = None,
                       seconds: float = SECONDS) -> Outcome:
    """Run the pipeline for *seconds* of virtual time; *options* takes the list the refused
    items should go to and returns the keyword arguments of ``rate_limit`` (default: none,
    the stage's defaults)."""
    clock = VirtualClock()
    refused: list[Order] = []
    delivered: dict[str, int] = {}

    def deliver(order: Order) -> None:
        if clock.now() <= seconds:
            delivered[order.user] = delivered.get(order.user, 0) + 1

    kwargs = options(refused) if options is not None else {}
    task = asyncio.create_task(from_iterable(orders(hot, hot_first)).pipe(
        rate_limit(limiter(clock), **kwargs), op.sink(deliver)).run())
    step = 0.01
    for _ in range(round(seconds / step)):
        await clock.advance(step, settle=12)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return Outcome(delivered, len(refused), seconds)
