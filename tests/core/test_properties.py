"""Property tests over random pipelines, random demand and random delays.

* no stage ever emits more than was requested of it;
* lossless pipelines deliver every item exactly once, in order where order is promised,
  and complete every item exactly once at its source;
* in lossy modes, emitted + dropped = received, and dropped items are completed too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import Operator, OverflowPolicy
from streamguard.core._runtime import Runtime, activate
from streamguard.testing import AckRecorder, TestSubscriber, check_demand

OP = st.one_of(
    st.tuples(st.just("map")),
    st.tuples(st.just("filter"), st.integers(2, 5)),
    st.tuples(st.just("buffer"), st.integers(1, 16)),
    st.tuples(st.just("prefetch"), st.integers(1, 16)),
    st.tuples(st.just("map_async"), st.integers(1, 8), st.booleans(), st.integers(0, 3)),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _delay_fn(spread: int) -> Any:
    async def work(x: int) -> int:
        for _ in range((x * 7919) % (spread + 1)):
            await asyncio.sleep(0)
        return x

    return work


def _build(spec: tuple[Any, ...]) -> Operator[Any, Any]:
    kind = spec[0]
    if kind == "map":
        return op.map(lambda x: x)
    if kind == "filter":
        k = spec[1]
        return op.filter(lambda x: x % k != 0)
    if kind == "buffer":
        return op.buffer(spec[1])
    if kind == "prefetch":
        return op.prefetch(spec[1])
    return op.map_async(_delay_fn(spec[3]), concurrency=spec[1], ordered=spec[2])


def _expected(n: int, specs: list[tuple[Any, ...]]) -> list[int]:
    items = list(range(n))
    for spec in specs:
        if spec[0] == "filter":
            items = [x for x in items if x % spec[1] != 0]
    return items


async def _drive(sub: TestSubscriber[Any], demands: list[int], pauses: list[int]) -> None:
    i = 0
    for _ in range(20_000):
        if sub.terminated:
            return
        if sub.outstanding == 0:
            sub.request(demands[i % len(demands)])
            i += 1
        for _ in range(pauses[i % len(pauses)]):
            await asyncio.sleep(0)
        await asyncio.sleep(0)
    raise AssertionError("pipeline did not finish")


@SETTINGS
@given(
    n=st.integers(0, 300),
    specs=st.lists(OP, min_size=1, max_size=5),
    demands=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    pauses=st.lists(st.integers(0, 3), min_size=1, max_size=5),
    chunk=st.integers(1, 64),
    end_with_batch=st.integers(0, 4),
)
async def test_lossless_pipelines(
    n: int, specs: list[tuple[Any, ...]], demands: list[int], pauses: list[int], chunk: int,
    end_with_batch: int,
) -> None:
    rec = AckRecorder()
    stream = from_iterable(range(n), ack=rec.ack, chunk_size=chunk)
    ops: list[Operator[Any, Any]] = []
    for i, spec in enumerate(specs):
        ops += [_build(spec), check_demand(f"{i}:{spec[0]}")]
    if end_with_batch:
        ops += [op.batch(end_with_batch), check_demand("batch")]
    sub: TestSubscriber[Any] = TestSubscriber()
    stream.pipe(*ops).subscribe(sub)
    await _drive(sub, demands, pauses)

    assert sub.errors == []
    assert sub.violations == []
    got = [x for b in sub.items for x in b] if end_with_batch else sub.items
    expected = _expected(n, specs)
    if any(s[0] == "map_async" and not s[2] for s in specs):
        assert sorted(got) == expected
    else:
        assert got == expected
    assert rec.completed_exactly_once(range(n))
    assert not rec.failed


@SETTINGS
@given(
    n=st.integers(0, 400),
    capacity=st.integers(1, 10),
    overflow=st.sampled_from(["drop_oldest", "drop_newest", "keep_latest"]),
    demands=st.lists(st.integers(1, 20), min_size=1, max_size=5),
    pauses=st.lists(st.integers(0, 3), min_size=1, max_size=5),
)
async def test_lossy_buffers_balance(
    n: int, capacity: int, overflow: OverflowPolicy, demands: list[int], pauses: list[int]
) -> None:
    rec = AckRecorder()
    sub: TestSubscriber[int] = TestSubscriber()
    rt = Runtime("lossy")
    with activate(rt):
        from_iterable(range(n), ack=rec.ack, chunk_size=7).pipe(
            op.buffer(capacity, overflow=overflow, name="lossy"), check_demand("lossy"),
            op.map_async(_delay_fn(2), concurrency=2),
        ).subscribe(sub)
    await _drive(sub, demands, pauses)
    stats = next(s for s in rt.statistics() if s.stage == "lossy")
    assert stats.received == n
    assert stats.emitted + stats.dropped == stats.received
    assert len(sub.items) == stats.emitted
    assert sub.violations == []
    assert rec.completed_exactly_once(range(n))
