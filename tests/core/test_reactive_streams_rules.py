"""Reactive Streams rules specific to one publisher. The rules every source and stage must
keep are tested over all of them in ``tests/contracts/test_rules.py``."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from streamguard import Emitter, StreamClosedError, from_iterable
from streamguard import operators as op
from streamguard.testing import TestSubscriber


async def _settle(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)



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


async def test_emitter_forgets_its_subscriber_after_cancel_rule_3_13() -> None:
    import gc
    import weakref

    emitter: Emitter[int] = Emitter(name="orders")
    sub: TestSubscriber[int] = TestSubscriber(initial_request=1)
    emitter.stream().subscribe(sub)
    await emitter.emit(1)
    sub.cancel()
    ref = weakref.ref(sub)
    sub.subscription = None
    del sub
    gc.collect()
    assert ref() is None  # the emitter (still alive here) holds no reference to it
    assert emitter.name == "orders"
