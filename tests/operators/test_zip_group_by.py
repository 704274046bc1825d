"""zip and group_by: pairing, completion, acks, the group bound and idle groups (virtual
time)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from streamguard import ConfigError, Emitter, from_async_iterable, from_iterable
from streamguard import operators as op
from streamguard.core import Stream
from streamguard.testing import TestSubscriber, VirtualClock

from ._publishers import _mod
from ._support import Ledger, settle, silent


def _initial(word: str) -> str:
    return word[0]


async def test_zip_pairs_items_and_completes_with_the_shortest() -> None:
    got = await op.zip(from_iterable(range(5)), from_iterable("abc"),
                       from_iterable([True] * 10)).to_list()
    assert got == [(0, "a", True), (1, "b", True), (2, "c", True)]


def test_zip_of_no_streams_is_refused_when_built() -> None:
    # a zip of nothing has no shortest input to end with (merge() and concat() of nothing
    # complete empty, as in RxPY and Reactor)
    with pytest.raises(ConfigError, match=r"^op\.zip: needs at least one stream, got 0$"):
        op.zip()


async def test_zip_tuple_ack_settles_every_member_and_leftovers_are_abandoned() -> None:
    left, right = Ledger(), Ledger()
    sub: TestSubscriber[Any] = TestSubscriber(ack_on_receive=False)
    op.zip(from_iterable(range(3), ack=left.ack),
           from_iterable(range(10), ack=right.ack)).subscribe(sub)
    sub.request(100)
    await settle()
    assert sub.items == [(0, 0), (1, 1), (2, 2)]
    assert sub.completions == 1
    assert right.abandoned == dict.fromkeys(range(3, 10), 1)  # fetched, never paired
    for i, ack in enumerate(sub.acks):
        assert ack is not None
        ack.fail(RuntimeError("x")) if i == 1 else ack.done()
    assert left.done == right.done == {0: 1, 2: 1}
    assert left.failed == right.failed == {1: 1}
    assert left.settled_exactly_once(range(3))
    assert right.settled_exactly_once(range(10))


async def test_zip_waits_for_the_slow_input() -> None:
    sub: TestSubscriber[Any] = TestSubscriber(initial_request=10)
    op.zip(from_iterable(range(5)), from_async_iterable(silent)).subscribe(sub)
    await settle()
    assert sub.items == []
    assert not sub.terminated
    sub.cancel()


async def test_group_by_groups_and_completes() -> None:
    def tagged(g: op.GroupedStream[int, int]) -> Stream[tuple[int, int]]:
        return g.pipe(op.map(lambda x: (g.key, x)))

    got = await from_iterable(range(12)).pipe(
        op.group_by(_mod(3)), op.flat_map(tagged, concurrency=3)).to_list()
    assert sorted(got) == sorted((x % 3, x) for x in range(12))
    for k in range(3):
        assert [x for key, x in got if key == k] == list(range(k, 12, 3))


async def test_group_by_at_the_bound_fails_naming_key_and_bound() -> None:
    ledger = Ledger()
    with pytest.raises(op.GroupLimitError, match="max_groups=2 groups open and key 2 would "
                                                 "open another"):
        await from_iterable(range(10), ack=ledger.ack).pipe(
            op.group_by(lambda x: x, max_groups=2),
            op.flat_map(lambda g: g, concurrency=8)).run()
    assert ledger.settled_exactly_once(range(ledger.issued))


async def test_group_by_evict_closes_the_least_recent_group() -> None:
    emitter: Emitter[str] = Emitter()
    closed: list[str] = []

    def consume(g: Any) -> Stream[Any]:
        async def mark() -> Any:
            closed.append(g.key)
            if False:
                yield None
        return op.concat(g, from_async_iterable(mark))

    task = asyncio.ensure_future(emitter.stream().pipe(
        op.group_by(_initial, max_groups=2, on_limit="evict"),
        op.flat_map(consume, concurrency=4)).to_list())
    for word in ("a1", "b1", "a2", "c1"):
        await emitter.emit(word)
        await settle()
    assert closed == ["b"]  # b saw an item least recently when c arrived
    emitter.complete()
    got = await asyncio.wait_for(task, 5)
    assert sorted(got) == ["a1", "a2", "b1", "c1"]


async def test_group_by_idle_group_completes_in_virtual_time() -> None:
    clock = VirtualClock()
    emitter: Emitter[str] = Emitter()
    groups: TestSubscriber[Any] = TestSubscriber(initial_request=10)
    emitter.stream().pipe(op.group_by(_initial, idle_timeout=5, clock=clock)).subscribe(
        groups)
    await emitter.emit("a1")
    await settle()
    first: TestSubscriber[str] = TestSubscriber(initial_request=10)
    groups.items[0].subscribe(first)
    await settle()
    assert first.items == ["a1"]
    await clock.advance(4.9)
    assert first.completions == 0
    await emitter.emit("a2")  # activity restarts the idle clock
    await clock.advance(4.9)
    assert first.completions == 0
    await clock.advance(0.2)
    assert first.items == ["a1", "a2"]
    assert first.completions == 1
    await emitter.emit("a3")  # the key opens a new group
    await settle()
    assert [g.key for g in groups.items] == ["a", "a"]
    groups.cancel()


async def test_group_by_memory_is_bounded_by_the_shared_buffer() -> None:
    produced = 0

    def source() -> Any:
        nonlocal produced
        for i in range(100_000):
            produced += 1
            yield i

    outer: TestSubscriber[Any] = TestSubscriber(initial_request=10)
    from_iterable(source()).pipe(op.group_by(_mod(5), buffer=64)).subscribe(outer)
    await settle()
    # nobody subscribed to the groups: at most the budget was pulled (one chunk of it)
    assert produced <= 64 + 1
    subs = [TestSubscriber[int](initial_request=3) for _ in outer.items]
    for g, s in zip(outer.items, subs, strict=True):
        g.subscribe(s)
    await settle()
    assert all(len(s.items) == 3 for s in subs)
    assert produced <= 64 + 15 + 1


def test_group_by_arguments_are_checked_when_built() -> None:
    with pytest.raises(ConfigError, match="max_groups must be an int >= 1, got 0"):
        op.group_by(lambda x: x, max_groups=0)
    with pytest.raises(ConfigError, match="idle_timeout must be > 0 seconds or None, got -1"):
        op.group_by(lambda x: x, idle_timeout=-1)
    with pytest.raises(ConfigError, match="on_limit must be 'error' or 'evict', got 'drop'"):
        op.group_by(lambda x: x, on_limit="drop")  # type: ignore[arg-type]


async def test_group_re_entrant_requests_do_not_recurse() -> None:
    n = 6 * sys.getrecursionlimit()  # rule 3.3: one nested call per item would overflow
    class OneByOne(TestSubscriber[int]):
        def on_chunk(self, items: list[int], acks: Any) -> None:
            super().on_chunk(items, acks)
            self.request(1)

    outer: TestSubscriber[Any] = TestSubscriber(initial_request=2)
    from_iterable(range(n), chunk_size=n).pipe(op.group_by(_mod(2), buffer=n)).subscribe(outer)
    await settle()
    subs = [OneByOne(), OneByOne()]
    for g, s in zip(outer.items, subs, strict=True):
        g.subscribe(s)
        s.request(1)
    await settle(300)
    assert subs[0].items == list(range(0, n, 2))
    assert subs[1].items == list(range(1, n, 2))
    assert subs[0].violations == subs[1].violations == []


async def test_cancel_abandons_what_groups_nobody_subscribed_hold() -> None:
    ledger = Ledger()
    outer: TestSubscriber[Any] = TestSubscriber(initial_request=1)
    from_iterable(range(10), ack=ledger.ack).pipe(
        op.group_by(_mod(2), buffer=10)).subscribe(outer)
    await settle()
    assert len(outer.items) == 1  # group 1 waits for demand that never comes
    evens: TestSubscriber[int] = TestSubscriber()
    outer.items[0].subscribe(evens)
    outer.cancel()
    await settle()
    assert ledger.abandoned == dict.fromkeys(range(1, 10, 2), 1)  # group 1: nobody to take it
    assert not ledger.done
    evens.request(10)  # a subscribed group still delivers what it holds, then completes
    await settle()
    assert evens.items == [0, 2, 4, 6, 8]
    assert evens.completions == 1
    assert ledger.settled_exactly_once(range(10))
