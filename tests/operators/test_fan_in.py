"""merge, concat, flat_map and concat_map: items, order, fairness, bounds and acks."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from streamguard import ConfigError, from_async_iterable, from_iterable
from streamguard import operators as op
from streamguard.core import Stream
from streamguard.core._runtime import Runtime, activate
from streamguard.testing import TestSubscriber

from ._support import Ledger, settle, silent


async def test_merge_delivers_every_item_of_every_input() -> None:
    got = await op.merge(from_iterable(range(500)), from_iterable(range(1000, 1300)),
                         from_iterable([])).to_list()
    assert sorted(got) == list(range(500)) + list(range(1000, 1300))
    # each input's own order is kept
    assert [x for x in got if x < 1000] == list(range(500))


async def test_merge_of_nothing_completes_empty() -> None:
    assert await op.merge().to_list() == []


async def test_merge_a_silent_input_does_not_block_the_others() -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    op.merge(from_async_iterable(silent), from_iterable(range(50))).subscribe(sub)
    sub.request(50)
    await settle()
    assert sub.items == list(range(50))
    assert sub.completions == 0  # the silent input is still open
    sub.cancel()


async def test_merge_serves_demand_round_robin() -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    a = from_iterable(range(100), chunk_size=10)
    b = from_iterable(range(1000, 1100), chunk_size=10)
    op.merge(a, b, prefetch=10).subscribe(sub)
    await settle()
    for _ in range(4):
        sub.request(10)
        await settle()
    # one chunk of 10 from each input in turn: neither input gets two turns in a row
    owners = [c[0] >= 1000 for c in sub.chunks]
    assert len(owners) == 4
    assert all(x != y for x, y in itertools.pairwise(owners))
    sub.cancel()


async def test_merge_memory_bound_is_inputs_times_prefetch() -> None:
    rt = Runtime("bound")
    sub: TestSubscriber[int] = TestSubscriber()
    with activate(rt):
        op.merge(*(from_iterable(range(10_000)) for _ in range(3)), prefetch=64,
                 name="m").subscribe(sub)
    await settle()
    stats = next(s for s in rt.statistics() if s.stage == "m")
    assert stats.capacity == 3 * 64
    assert stats.buffered == 3 * 64  # nothing requested downstream: exactly the bound held
    sub.request(100)
    await settle()
    stats = next(s for s in rt.statistics() if s.stage == "m")
    assert stats.buffered <= 3 * 64
    sub.cancel()


async def test_merge_error_fails_the_stream_and_cancels_the_others() -> None:
    cancelled = asyncio.Event()

    async def endless() -> Any:
        try:
            while True:
                await asyncio.sleep(0)
                yield 1
        finally:
            cancelled.set()

    async def failing() -> Any:
        for i in range(5):
            await asyncio.sleep(0)
            yield i
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await op.merge(from_async_iterable(endless), from_async_iterable(failing)).run()
    assert cancelled.is_set()


async def test_concat_keeps_stream_order_and_subscribes_one_at_a_time() -> None:
    subscribed: list[int] = []

    def tracked(k: int) -> Stream[int]:
        async def gen() -> Any:
            subscribed.append(k)
            for i in range(3):
                yield k * 10 + i
        return from_async_iterable(gen)

    got = await op.concat(tracked(1), tracked(2), tracked(3)).to_list()
    assert got == [10, 11, 12, 20, 21, 22, 30, 31, 32]
    assert subscribed == [1, 2, 3]


async def test_flat_map_keeps_at_most_concurrency_inner_streams() -> None:
    open_now = 0
    peak = 0

    def inner(x: int) -> Stream[int]:
        async def gen() -> Any:
            nonlocal open_now, peak
            open_now += 1
            peak = max(peak, open_now)
            try:
                for i in range(3):
                    await asyncio.sleep(0)
                    yield x * 10 + i
            finally:
                open_now -= 1
        return from_async_iterable(gen)

    got = await from_iterable(range(40)).pipe(op.flat_map(inner, concurrency=4)).to_list()
    assert sorted(got) == sorted(x * 10 + i for x in range(40) for i in range(3))
    assert peak == 4


def _repeat(x: int) -> Stream[int]:
    return from_iterable([x] * x)


async def test_concat_map_is_ordered() -> None:
    got = await from_iterable(range(5)).pipe(
        op.concat_map(_repeat)).to_list()
    assert got == [1, 2, 2, 3, 3, 3, 4, 4, 4, 4]


async def test_flat_map_outer_ack_completes_after_every_derived_item() -> None:
    ledger = Ledger()
    sub: TestSubscriber[int] = TestSubscriber(ack_on_receive=False)
    from_iterable(range(3), ack=ledger.ack).pipe(
        op.flat_map(lambda x: from_iterable(range(2)), concurrency=3)).subscribe(sub)
    sub.request(100)
    await settle()
    assert len(sub.items) == 6
    assert sub.completions == 1
    # nothing derived is complete yet
    assert not ledger.done
    assert not ledger.failed
    assert not ledger.abandoned
    for ack in sub.acks[:-1]:
        assert ack is not None
        ack.done()
    assert sum(ledger.done.values()) == 2  # the outer record of the last item still waits
    last = sub.acks[-1]
    assert last is not None
    last.done()
    assert ledger.settled_exactly_once(range(3))
    assert not ledger.failed


async def test_flat_map_failed_derived_item_fails_its_outer_record() -> None:
    ledger = Ledger()
    sub: TestSubscriber[int] = TestSubscriber(ack_on_receive=False)
    from_iterable(range(2), ack=ledger.ack).pipe(
        op.flat_map(lambda x: from_iterable([x, x]), concurrency=1)).subscribe(sub)
    sub.request(100)
    await settle()
    error = RuntimeError("downstream refused")
    for i, ack in enumerate(sub.acks):
        assert ack is not None
        ack.fail(error) if i == 1 else ack.done()
    assert ledger.failed == {0: 1}
    assert ledger.done == {1: 1}
    assert ledger.errors == [error]


async def test_flat_map_cancel_abandons_what_was_not_delivered() -> None:
    ledger = Ledger()
    sub: TestSubscriber[int] = TestSubscriber()
    from_iterable(range(10), ack=ledger.ack).pipe(
        op.flat_map(lambda x: from_async_iterable(silent) if x == 1 else from_iterable([x]),
                    concurrency=2)).subscribe(sub)
    sub.request(1)
    await settle()
    sub.cancel()
    await settle()
    assert ledger.done == {0: 1}
    assert ledger.abandoned[1] == 1  # its inner stream was cancelled
    # every record fetched (a slot freed by item 0 fetched item 2) settled exactly once
    assert ledger.settled_exactly_once(range(ledger.issued))


async def test_flat_map_function_must_return_a_stream() -> None:
    with pytest.raises(Exception, match="needs a function returning a Stream, got list"):
        await from_iterable([1]).pipe(op.flat_map(lambda x: [x])).run()  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bad_arguments_are_refused_at_build_time(bad: Any) -> None:
    with pytest.raises(ConfigError, match=f"concurrency must be an int >= 1, got {bad!r}"):
        op.flat_map(lambda x: from_iterable([x]), concurrency=bad)
    with pytest.raises(ConfigError, match=f"prefetch must be an int >= 1, got {bad!r}"):
        op.merge(from_iterable([1]), prefetch=bad)
    with pytest.raises(TypeError, match="merge\\(\\) takes streams, got list"):
        op.merge([1, 2])  # type: ignore[arg-type]
