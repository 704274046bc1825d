"""Property tests over random pipelines of the fan-in, fan-out, nesting and recovery
operators, random demand, random pauses and cancellation at random points:

* no stage emits more than was requested of it (rule 1.1), at any point of the pipeline;
* a pipeline run to its end delivers exactly the expected items and completes every item
  exactly once at its source;
* a pipeline cancelled at any point settles every ack it issued exactly once (done, failed
  or abandoned) — nothing is left hanging.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamguard import from_async_iterable, from_iterable
from streamguard import operators as op
from streamguard.core import Operator, Stream
from streamguard.testing import TestSubscriber, check_demand

from ._support import Ledger, drive

SPEC = st.one_of(
    st.tuples(st.just("flat_map"), st.integers(1, 4), st.integers(1, 4), st.integers(1, 8)),
    st.tuples(st.just("concat_map"), st.integers(1, 4)),
    st.tuples(st.just("merge_with"), st.integers(0, 20), st.integers(1, 8)),
    st.tuples(st.just("concat_with"), st.integers(0, 5)),
    st.tuples(st.just("zip_with")),
    st.tuples(st.just("broadcast"), st.integers(1, 3), st.integers(0, 4)),
    st.tuples(st.just("partition"), st.integers(1, 3), st.integers(0, 4)),
    st.tuples(st.just("group_by"), st.integers(1, 4), st.integers(1, 16)),
    st.tuples(st.just("resume")),
    st.tuples(st.just("slow")),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _inner(k: int) -> Callable[[int], Stream[int]]:
    return lambda x: from_iterable(range(x % k))


def _same(s: Stream[int]) -> Stream[int]:
    return s


def _single(x: int) -> Stream[int]:
    return from_iterable([x])


def _checked(s: Stream[int]) -> Stream[int]:
    """A branch or group that asks for two items at a time and fails if its port
    over-delivers (rule 1.1)."""
    return s.pipe(check_demand("branch"), op.flat_map(_single, concurrency=2))


def _mod(k: int) -> Callable[[int], int]:
    return lambda x: x % k


def _first(t: tuple[Any, ...]) -> Any:
    return t[0]


async def _slowly(x: int) -> int:
    for _ in range(x % 3):
        await asyncio.sleep(0)
    return x


def _slow_inner(x: int) -> Stream[int]:
    async def gen() -> Any:
        yield await _slowly(x)
    return from_async_iterable(gen)


def _build(spec: tuple[Any, ...]) -> Operator[Any, Any]:
    kind = spec[0]
    if kind == "flat_map":
        return op.flat_map(_inner(spec[1]), concurrency=spec[2], prefetch=spec[3])
    if kind == "concat_map":
        return op.concat_map(_inner(spec[1]), prefetch=2)
    if kind == "merge_with":
        other = from_iterable(range(10_000, 10_000 + spec[1]))
        return lambda s: op.merge(s, other, prefetch=spec[2])
    if kind == "concat_with":
        tail = from_iterable(range(20_000, 20_000 + spec[1]))
        return lambda s: op.concat(s, tail)
    if kind == "zip_with":
        return lambda s: op.zip(s, from_iterable(itertools.count()), prefetch=3).pipe(
            op.map(_first))
    if kind == "broadcast":
        return op.broadcast(*[_checked] * spec[1], buffer=spec[2])
    if kind == "partition":
        return op.partition(_mod(spec[1]), *[_checked] * spec[1], buffer=spec[2])
    if kind == "group_by":
        return lambda s: s.pipe(op.group_by(_mod(spec[1]), buffer=spec[2]),
                                op.flat_map(_checked, concurrency=spec[1]))
    if kind == "resume":
        return op.on_error_resume(lambda e: from_iterable([]))
    return op.flat_map(_slow_inner, concurrency=3)


def _expected(n: int, specs: list[tuple[Any, ...]]) -> Counter[int]:
    items: Counter[int] = Counter(range(n))
    for spec in specs:
        kind = spec[0]
        if kind in ("flat_map", "concat_map"):
            out: Counter[int] = Counter()
            for x, c in items.items():
                for y in range(x % spec[1]):
                    out[y] += c
            items = out
        elif kind == "merge_with":
            items = items + Counter(range(10_000, 10_000 + spec[1]))
        elif kind == "concat_with":
            items = items + Counter(range(20_000, 20_000 + spec[1]))
        elif kind == "broadcast":
            items = Counter({x: c * spec[1] for x, c in items.items()})
    return items


def _pipeline(n: int, specs: list[tuple[Any, ...]], ledger: Ledger, chunk: int) -> Stream[Any]:
    ops: list[Operator[Any, Any]] = []
    for i, spec in enumerate(specs):
        ops += [_build(spec), check_demand(f"{i}:{spec[0]}")]
    return from_iterable(range(n), ack=ledger.ack, chunk_size=chunk).pipe(*ops)


@SETTINGS
@given(
    n=st.integers(0, 120),
    specs=st.lists(SPEC, min_size=1, max_size=3),
    demands=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    pauses=st.lists(st.integers(0, 3), min_size=1, max_size=4),
    chunk=st.integers(1, 32),
)
async def test_pipelines_run_to_the_end_deliver_everything_once(
    n: int, specs: list[tuple[Any, ...]], demands: list[int], pauses: list[int], chunk: int,
) -> None:
    ledger = Ledger()
    sub: TestSubscriber[Any] = TestSubscriber()
    _pipeline(n, specs, ledger, chunk).subscribe(sub)
    await drive(sub, demands, pauses)
    assert sub.errors == []
    assert sub.violations == []
    assert Counter(sub.items) == _expected(n, specs)
    assert ledger.settled_exactly_once(range(n))
    assert not ledger.failed
    assert not ledger.abandoned


@SETTINGS
@given(
    n=st.integers(1, 150),
    specs=st.lists(SPEC, min_size=1, max_size=3),
    demands=st.lists(st.integers(1, 30), min_size=1, max_size=4),
    pauses=st.lists(st.integers(0, 3), min_size=1, max_size=4),
    chunk=st.integers(1, 32),
    cancel_after=st.integers(0, 40),
)
async def test_cancelled_anywhere_every_issued_ack_settles_once(
    n: int, specs: list[tuple[Any, ...]], demands: list[int], pauses: list[int], chunk: int,
    cancel_after: int,
) -> None:
    ledger = Ledger()
    sub: TestSubscriber[Any] = TestSubscriber()
    _pipeline(n, specs, ledger, chunk).subscribe(sub)
    i = 0
    for turn in range(cancel_after):
        if sub.terminated:
            break
        if sub.outstanding == 0:
            sub.request(demands[i % len(demands)])
            i += 1
        for _ in range(pauses[turn % len(pauses)] + 1):
            await asyncio.sleep(0)
    sub.cancel()
    for _ in range(30):
        await asyncio.sleep(0)
    assert sub.errors == []
    assert sub.violations == []
    assert ledger.settled_exactly_once(range(ledger.issued))
    assert not ledger.failed
