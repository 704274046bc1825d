"""Bounded memory: under a consumer that asks for one item at a time, every operator holds at
most its documented bound (``StageStatistics.buffered <= capacity``) and the items open at
the source (produced, not yet settled) stay bounded too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import Operator, Runtime
from streamguard.core._runtime import activate
from streamguard.testing import TestSubscriber, VirtualClock

from ._publishers import STAGES, as_int

N = 3_000


class OpenItems:
    """Counts items handed out by the source and not yet settled; keeps the peak."""

    def __init__(self) -> None:
        self.open = 0
        self.peak = 0

    def ack(self, _item: Any) -> OpenItems._Ack:
        self.open += 1
        self.peak = max(self.peak, self.open)
        return OpenItems._Ack(self)

    class _Ack:
        __slots__ = ("items",)

        def __init__(self, items: OpenItems) -> None:
            self.items = items

        def done(self) -> None:
            self.items.open -= 1

        def fail(self, error: BaseException) -> None:
            self.items.open -= 1

        def abandon(self) -> None:
            self.items.open -= 1


@pytest.mark.parametrize("name", sorted(STAGES))
async def test_slow_consumer_keeps_every_stage_within_its_bound(name: str) -> None:
    clock = VirtualClock()
    items = OpenItems()
    rt = Runtime(f"bounded-{name}")
    sub: TestSubscriber[Any] = TestSubscriber()
    ops: list[Operator[Any, Any]] = [*STAGES[name](clock), op.map(as_int)]
    with activate(rt):
        from_iterable(range(N), ack=items.ack).pipe(*ops).subscribe(sub)
    peak_over = []
    for _ in range(20_000):
        if sub.terminated:
            break
        if sub.outstanding == 0:
            sub.request(1)
        await clock.advance(0.005, settle=2)
        for stats in rt.statistics():
            if stats.capacity and stats.buffered > stats.capacity:
                peak_over.append((stats.stage, stats.buffered, stats.capacity))
    assert sub.completions == 1, "pipeline did not finish"
    assert peak_over == []
    if name != "reduce":  # reduce keeps one ack per member until its result is delivered
        bound = sum(s.capacity for s in rt.statistics()) + 1
        assert items.peak <= bound, (items.peak, bound)
    assert items.open == 0


async def test_distinct_holds_at_most_capacity_keys_over_a_million_distinct_items() -> None:
    rt = Runtime("distinct-keys")
    sub: TestSubscriber[int] = TestSubscriber(initial_request=2**63 - 1)
    with activate(rt):
        from_iterable(range(200_000)).pipe(op.distinct(capacity=1_000)).subscribe(sub)
    for _ in range(10_000):
        if sub.terminated:
            break
        await asyncio.sleep(0)
    (stats,) = [s for s in rt.statistics() if s.stage == "distinct"]
    assert stats.buffered == 1_000 == stats.capacity
    assert len(sub.items) == 200_000
