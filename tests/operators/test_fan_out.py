"""broadcast and partition: slowest-consumer backpressure, per-branch buffers and overflow,
acks settled once every branch settled, branch cancellation."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from streamguard import ConfigError, ItemFailedError, from_iterable
from streamguard import operators as op
from streamguard.core import Stream
from streamguard.core._runtime import Runtime, activate
from streamguard.testing import TestSubscriber

from ._support import Ledger, settle


def _recording(into: list[Any]) -> Any:
    def record(x: Any) -> Any:
        into.append(x)
        return x
    return record


def _tap(into: list[Any]) -> op.Branch[Any]:
    def branch(s: Stream[Any]) -> Stream[Any]:
        return s.pipe(op.map(_recording(into)))
    return branch


async def test_broadcast_every_branch_gets_every_item() -> None:
    a: list[int] = []
    b: list[int] = []
    await from_iterable(range(1000)).pipe(
        op.broadcast(lambda s: s.pipe(op.sink(a.append)), lambda s: s.pipe(op.sink(b.append)))
    ).run()
    assert a == list(range(1000))
    assert b == list(range(1000))


async def test_broadcast_slowest_branch_sets_the_pace() -> None:
    fast: TestSubscriber[int] = TestSubscriber()
    slow: TestSubscriber[int] = TestSubscriber()
    seen: list[int] = []
    taps: list[TestSubscriber[int]] = [fast, slow]

    def branch(i: int) -> op.Branch[int]:
        def make(s: Stream[int]) -> Stream[Any]:
            s.subscribe(taps[i])
            return from_iterable([])
        return make

    # Branches that subscribe test subscribers to their inputs, so the test drives demand.
    from_iterable(range(100)).pipe(op.map(_recording(seen)),
                                   op.broadcast(branch(0), branch(1))).subscribe(
        TestSubscriber(initial_request=10))
    fast.request(50)
    slow.request(3)
    await settle()
    assert fast.items == [0, 1, 2]  # no buffer: the slow branch's demand is the bound
    assert len(seen) == 3  # nothing more was pulled from upstream
    slow.request(10)
    await settle()
    assert fast.items == list(range(13))
    assert slow.items == list(range(13))
    assert fast.violations == []
    assert slow.violations == []
    fast.cancel()
    slow.cancel()


async def test_broadcast_buffer_lets_a_fast_branch_run_ahead_by_the_buffer() -> None:
    fast: TestSubscriber[int] = TestSubscriber()
    slow: TestSubscriber[int] = TestSubscriber()
    taps = [fast, slow]

    def branch(i: int) -> op.Branch[int]:
        def make(s: Stream[int]) -> Stream[Any]:
            s.subscribe(taps[i])
            return from_iterable([])
        return make

    rt = Runtime("buffered")
    with activate(rt):
        from_iterable(range(100)).pipe(op.broadcast(branch(0), branch(1), buffer=5,
                                                    name="fan")).subscribe(TestSubscriber())
    fast.request(50)
    await settle()
    assert fast.items == list(range(5))  # ahead of the silent branch by its buffer
    stats = next(s for s in rt.statistics() if s.stage == "fan")
    assert stats.buffered == 5  # held for the slow branch: the documented bound
    assert stats.capacity == 10
    fast.cancel()
    slow.cancel()


async def test_broadcast_lossy_branch_drops_and_counts_without_slowing_the_others() -> None:
    ledger = Ledger()
    fast: list[int] = []
    lossy: TestSubscriber[int] = TestSubscriber()

    def lossy_branch(s: Stream[int]) -> Stream[Any]:
        s.subscribe(lossy)
        return from_iterable([])

    task = asyncio.ensure_future(from_iterable(range(200), ack=ledger.ack).pipe(
        op.broadcast(lambda s: s.pipe(op.sink(fast.append)), lossy_branch, buffer=10,
                     overflow=["backpressure", "drop_oldest"], name="fan")).run())
    await settle(100)
    assert fast == list(range(200))  # the lossy branch never asked for anything
    assert list(lossy.items) == []
    lossy.request(100)
    await settle()
    assert lossy.items == list(range(190, 200))  # the newest ten were kept
    result = await asyncio.wait_for(task, 5)
    stats = next(s for s in result.statistics if s.stage == "fan")
    assert stats.dropped == 190
    assert ledger.settled_exactly_once(range(200))
    assert not ledger.failed


async def test_broadcast_item_completes_when_every_branch_completed_it() -> None:
    ledger = Ledger()
    taps: list[TestSubscriber[int]] = [TestSubscriber(ack_on_receive=False) for _ in range(2)]

    def branch(i: int) -> op.Branch[int]:
        def make(s: Stream[int]) -> Stream[Any]:
            s.subscribe(taps[i])
            return from_iterable([])
        return make

    from_iterable(range(3), ack=ledger.ack).pipe(
        op.broadcast(branch(0), branch(1))).subscribe(TestSubscriber())
    for t in taps:
        t.request(10)
    await settle()
    for ack in taps[0].acks:
        assert ack is not None
        ack.done()
    # the second branch has not finished any
    assert not ledger.done
    assert not ledger.failed
    assert not ledger.abandoned
    error = RuntimeError("no")
    for i, ack in enumerate(taps[1].acks):
        assert ack is not None
        ack.fail(error) if i == 1 else ack.done()
    assert ledger.done == {0: 1, 2: 1}
    assert ledger.failed == {1: 1}


def _fails_at(key: int) -> Any:
    def fn(x: int) -> None:
        if x == key:
            raise ValueError(f"bad {x}")
    return fn


@pytest.mark.parametrize("buffer", [0, 1, 16])
async def test_broadcast_a_cancelled_branch_has_no_say_in_items_it_did_not_receive(
        buffer: int) -> None:
    # take(5) cancels its branch; what it held in its buffer or never got is up to the
    # other branch alone, whatever the buffer size
    ledger = Ledger()
    a: list[int] = []
    b: list[int] = []
    await asyncio.wait_for(from_iterable(range(100), ack=ledger.ack).pipe(op.broadcast(
        lambda s: s.pipe(op.take(5), op.sink(a.append)),
        lambda s: s.pipe(op.sink(b.append)), buffer=buffer)).run(), 5)
    assert (len(a), b) == (5, list(range(100)))
    assert ledger.completed_exactly_once(range(100))


@pytest.mark.parametrize("buffer", [0, 1, 16])
async def test_broadcast_the_live_branch_alone_fails_what_a_cancelled_branch_left(
        buffer: int) -> None:
    ledger = Ledger()
    await asyncio.wait_for(from_iterable(range(100), ack=ledger.ack).pipe(op.broadcast(
        lambda s: s.pipe(op.take(5), op.sink(lambda x: None)),
        lambda s: s.pipe(op.sink(_fails_at(10), on_error="skip")), buffer=buffer)).run(), 5)
    assert ledger.failed == {10: 1}
    assert ledger.done == {k: 1 for k in range(100) if k != 10}
    assert not ledger.abandoned


@pytest.mark.parametrize("buffer", [1, 16])
async def test_broadcast_a_failed_branch_abandons_what_it_did_not_receive(buffer: int) -> None:
    # a branch that fails did not choose to stop: what it held is abandoned even though the
    # other branch completed it, so a Kafka source delivers it again rather than skip it
    ledger = Ledger()
    fast: list[int] = []
    with pytest.raises(ItemFailedError, match="bad 10"):
        await asyncio.wait_for(from_iterable(range(100), ack=ledger.ack).pipe(op.broadcast(
            lambda s: s.pipe(op.sink(fast.append)),
            lambda s: s.pipe(op.sink(_fails_at(10), prefetch=1)), buffer=buffer)).run(), 5)
    assert ledger.failed == {10: 1}
    assert ledger.done == dict.fromkeys(range(10), 1)
    assert ledger.settled_exactly_once(range(ledger.issued))
    assert set(fast) > set(range(11))  # the fast branch ran ahead into the held items


async def test_broadcast_torn_down_branches_abandon_what_they_did_not_receive() -> None:
    # the broadcast's consumer cancels: no branch chose to stop, so what the stuck branch
    # held is abandoned although the fast branch completed it
    ledger = Ledger()
    fast: list[int] = []
    gate = asyncio.Event()

    async def stuck(x: int) -> None:
        await gate.wait()

    outer: TestSubscriber[Any] = TestSubscriber()
    from_iterable(range(100), ack=ledger.ack).pipe(op.broadcast(
        lambda s: s.pipe(op.sink(fast.append)),
        lambda s: s.pipe(op.sink(stuck, prefetch=1)), buffer=16)).subscribe(outer)
    await settle()
    assert len(fast) > 16  # ran ahead into what the stuck branch held
    outer.cancel()
    await settle()
    assert not ledger.done
    assert ledger.settled_exactly_once(range(ledger.issued))


async def test_broadcast_items_no_branch_received_are_abandoned() -> None:
    # both branches cancelled: what was still buffered for both was processed by nobody
    ledger = Ledger()
    got: list[list[int]] = [[], []]
    await asyncio.wait_for(from_iterable(range(100), ack=ledger.ack).pipe(op.broadcast(
        lambda s: s.pipe(op.take(5), op.sink(got[0].append)),
        lambda s: s.pipe(op.take(3), op.sink(got[1].append)), buffer=16)).run(), 5)
    assert got == [list(range(5)), list(range(3))]
    assert ledger.done == dict.fromkeys(range(5), 1)  # 3 and 4: the first branch alone
    assert ledger.abandoned
    assert set(ledger.abandoned).isdisjoint(range(5))
    assert ledger.settled_exactly_once(range(ledger.issued))


async def test_partition_routes_each_item_to_one_branch() -> None:
    outs: list[list[int]] = [[], [], []]
    got = await from_iterable(range(30)).pipe(
        op.partition(lambda x: x % 3, _tap(outs[0]), _tap(outs[1]), _tap(outs[2]))).to_list()
    assert sorted(got) == list(range(30))
    assert outs == [list(range(k, 30, 3)) for k in range(3)]


async def test_partition_bad_index_fails_the_item_and_the_stream() -> None:
    ledger = Ledger()
    with pytest.raises(ItemFailedError, match=r"must return an int in \[0, 2\), got 5"):
        await from_iterable(range(10), ack=ledger.ack).pipe(
            op.partition(lambda x: 5 if x == 4 else x % 2, lambda s: s, lambda s: s)).run()
    assert ledger.failed == {4: 1}
    assert ledger.settled_exactly_once(range(ledger.issued))


async def test_partition_items_for_a_cancelled_branch_are_abandoned_and_counted() -> None:
    ledger = Ledger()
    got: list[int] = []
    result = await from_iterable(range(20), ack=ledger.ack).pipe(
        op.partition(lambda x: x % 2, lambda s: s.pipe(op.take(2)), lambda s: s,
                     name="route"), op.sink(got.append)).run()
    assert sorted(got) == sorted([0, 2, *range(1, 20, 2)])
    stats = next(s for s in result.statistics if s.stage == "route")
    assert stats.dropped == sum(ledger.abandoned.values()) > 0
    assert ledger.settled_exactly_once(range(20))


def test_fan_out_arguments_are_checked_when_built() -> None:
    with pytest.raises(ConfigError, match=r"^op\.broadcast: needs at least one branch"):
        op.broadcast()
    with pytest.raises(ConfigError, match="buffer must be >= 1 with overflow='drop_oldest', got 0"):
        op.broadcast(lambda s: s, overflow="drop_oldest")
    with pytest.raises(ConfigError, match="overflow must be one of"):
        op.partition(lambda x: 0, lambda s: s, overflow="sometimes")
    with pytest.raises(ConfigError, match=r"one strategy or one per branch \(2\)"):
        op.broadcast(lambda s: s, lambda s: s, buffer=1, overflow=["drop_oldest"])


class _OneByOne(TestSubscriber[int]):
    """Asks for the next item from inside on_chunk (a re-entrant request)."""

    def on_chunk(self, items: list[int], acks: Any) -> None:
        super().on_chunk(items, acks)
        self.request(1)


async def test_broadcast_re_entrant_requests_do_not_recurse() -> None:
    n = 3 * sys.getrecursionlimit()  # rule 3.3: one nested call per item would overflow
    taps = [_OneByOne(), _OneByOne()]

    def branch(i: int) -> op.Branch[int]:
        def make(s: Stream[int]) -> Stream[Any]:
            s.subscribe(taps[i])
            return from_iterable([])
        return make

    from_iterable(range(n), chunk_size=n).pipe(
        op.broadcast(branch(0), branch(1), buffer=n)).subscribe(TestSubscriber())
    taps[0].request(1)
    taps[1].request(1)
    await settle(200)
    for tap in taps:
        assert tap.errors == []
        assert tap.items == list(range(n))
        assert tap.violations == []
