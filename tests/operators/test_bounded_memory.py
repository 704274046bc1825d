"""Fast sources feeding slow sinks through every fan-in, fan-out and nesting operator: the
items produced and not yet completed never exceed the operator's documented bound (plus
the one item each slow sink holds)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import Stream

N = 20_000


class Open:
    """Counts items produced and completed; tracks the peak of the difference."""

    def __init__(self) -> None:
        self.produced = 0
        self.completed = 0
        self.peak = 0

    def items(self, n: int = N) -> Iterator[int]:
        for i in range(n):
            self.produced += 1
            self.peak = max(self.peak, self.produced - self.completed)
            yield i

    def ack(self, _item: int) -> Open._Ack:
        return Open._Ack(self)

    def source(self, n: int = N) -> Stream[int]:
        return from_iterable(self.items(n), ack=self.ack)

    class _Ack:
        __slots__ = ("ledger",)

        def __init__(self, ledger: Open) -> None:
            self.ledger = ledger

        def done(self) -> None:
            self.ledger.completed += 1

        def fail(self, error: BaseException) -> None:
            raise AssertionError(f"no item should fail: {error!r}")

        def abandon(self) -> None:
            raise AssertionError("no item should be abandoned")


async def _slow(_x: object) -> None:
    for _ in range(2):
        await asyncio.sleep(0)


def _slow_sink(s: Stream[Any]) -> Stream[Any]:
    return s.pipe(op.sink(_slow))


async def test_merge_holds_at_most_inputs_times_prefetch() -> None:
    ledger = Open()  # one ledger for the three inputs: the peak is over all of them
    await op.merge(*(ledger.source() for _ in range(3)), prefetch=64).pipe(
        op.sink(_slow)).run()
    assert ledger.completed == 3 * N
    assert ledger.peak <= 3 * 64 + 1


async def test_flat_map_keeps_at_most_concurrency_records_open() -> None:
    ledger = Open()
    await ledger.source(N // 10).pipe(
        op.flat_map(lambda x: from_iterable(range(10)), concurrency=4, prefetch=16),
        op.sink(_slow)).run()
    assert ledger.completed == N // 10
    # 4 inner streams subscribed, plus the records whose items the sink still holds (an async
    # sink holds 2 x concurrency items: one in flight, one waiting)
    assert ledger.peak <= 4 + 2


async def test_broadcast_holds_at_most_branches_times_buffer() -> None:
    ledger = Open()
    await ledger.source().pipe(op.broadcast(_slow_sink, _slow_sink, buffer=8)).run()
    assert ledger.completed == N
    assert ledger.peak <= 2 * 8 + 2


async def test_partition_holds_at_most_branches_times_buffer() -> None:
    ledger = Open()
    await ledger.source().pipe(
        op.partition(lambda x: x % 2, _slow_sink, _slow_sink, buffer=8)).run()
    assert ledger.completed == N
    # per branch: its buffer, plus its async sink's 2 x concurrency (in flight and waiting)
    assert ledger.peak <= 2 * 8 + 2 * 2


def _mod4(x: int) -> int:
    return x % 4


async def test_group_by_holds_at_most_its_shared_buffer() -> None:
    ledger = Open()
    await ledger.source().pipe(
        op.group_by(_mod4, buffer=32),
        op.flat_map(_slow_sink, concurrency=4)).run()
    assert ledger.completed == N
    # the shared buffer, plus each of the 4 inner sinks' 2 x concurrency items
    assert ledger.peak <= 32 + 4 * 2


async def test_zip_holds_at_most_inputs_times_prefetch() -> None:
    ledger = Open()
    await op.zip(ledger.source(), ledger.source(), prefetch=32).pipe(op.sink(_slow)).run()
    assert ledger.completed == 2 * N
    # two inputs × 32, plus the members of the tuples the sink holds (at most two tuples)
    assert ledger.peak <= 2 * 32 + 2 * 2


async def test_concat_holds_at_most_prefetch() -> None:
    ledger = Open()
    await op.concat(ledger.source(N // 2), ledger.source(N // 2), prefetch=32).pipe(
        op.sink(_slow)).run()
    assert ledger.completed == N
    assert ledger.peak <= 32 + 2  # and the items the sink holds (at most two)
