"""State operators: scan, reduce, distinct, pairwise — whole outputs, acks, errors, bounds."""

from __future__ import annotations

import asyncio

import pytest

from streamguard import ItemFailedError, from_iterable
from streamguard import operators as op
from streamguard.testing import AckRecorder, TestSubscriber


def _add(acc: int, x: int) -> int:
    return acc + x


async def test_scan_emits_running_fold() -> None:
    rec = AckRecorder()
    out = await from_iterable([1, 2, 3, 4], ack=rec.ack).pipe(op.scan(_add, 10)).to_list()
    assert out == [11, 13, 16, 20]
    assert rec.completed_exactly_once([1, 2, 3, 4])


async def test_scan_error_fails_item_and_stream_and_abandons_nothing_twice() -> None:
    rec = AckRecorder()

    def bad(acc: int, x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return acc + x

    with pytest.raises(ItemFailedError, match="stage 'scan' failed on item 3: ValueError: three"):
        await from_iterable(range(6), ack=rec.ack).pipe(op.scan(bad, 0)).to_list()
    assert rec.failed[3] == 1
    assert all(rec.done[k] == 1 for k in (0, 1, 2))


async def test_reduce_emits_once_at_the_end_and_settles_members_with_the_result() -> None:
    rec = AckRecorder()
    sub: TestSubscriber[int] = TestSubscriber(ack_on_receive=False)
    from_iterable(range(100), ack=rec.ack).pipe(op.reduce(_add, 0)).subscribe(sub)
    sub.request(1)

    for _ in range(10):
        await asyncio.sleep(0)
    assert sub.items == [4950]
    assert sub.completions == 1
    assert not rec.done  # members wait for the result to complete
    ack = sub.acks[0]
    assert ack is not None
    ack.done()
    assert rec.completed_exactly_once(range(100))


async def test_reduce_of_empty_stream_is_the_seed() -> None:
    assert await from_iterable([]).pipe(op.reduce(_add, 7)).to_list() == [7]


async def test_distinct_drops_recent_duplicates_and_counts_them() -> None:
    rec = AckRecorder()
    items = [1, 2, 1, 3, 2, 4, 1]
    result = await from_iterable(items, ack=rec.ack).pipe(
        op.distinct(name="d"), op.sink(lambda x: None)).run()
    stats = {s.stage: s for s in result.statistics}["d"]
    assert (stats.received, stats.emitted, stats.dropped) == (7, 4, 3)
    assert sum(rec.done.values()) == 7


async def test_distinct_forgets_beyond_capacity() -> None:
    # capacity 2: after 1, 2, 3 the key 1 is forgotten (least recently seen)
    out = await from_iterable([1, 2, 3, 1, 3]).pipe(op.distinct(capacity=2)).to_list()
    assert out == [1, 2, 3, 1]


def _initial(word: str) -> str:
    return word[0]


async def test_distinct_by_key() -> None:
    words = ["apple", "avocado", "banana", "blueberry", "cherry"]
    out = await from_iterable(words).pipe(op.distinct(_initial)).to_list()
    assert out == ["apple", "banana", "cherry"]


async def test_distinct_keeps_downstream_demand_after_drops() -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    from_iterable([0, 0, 0, 1, 1, 2, 3], chunk_size=1).pipe(op.distinct()).subscribe(sub)
    sub.request(3)

    for _ in range(20):
        await asyncio.sleep(0)
    assert sub.items == [0, 1, 2]
    assert sub.violations == []
    sub.cancel()


async def test_pairwise_pairs_and_acks_with_second_pair() -> None:
    rec = AckRecorder()
    sub: TestSubscriber[tuple[int, int]] = TestSubscriber(ack_on_receive=False)
    from_iterable(range(4), ack=rec.ack).pipe(op.pairwise()).subscribe(sub)
    sub.request(10)

    for _ in range(10):
        await asyncio.sleep(0)
    assert sub.items == [(0, 1), (1, 2), (2, 3)]
    assert rec.done[3] == 1  # the last item completes when the stream ends
    for ack in sub.acks:
        assert ack is not None
        ack.done()
    assert rec.completed_exactly_once(range(4))


async def test_pairwise_respects_demand_one_pair_at_a_time() -> None:
    sub: TestSubscriber[tuple[int, int]] = TestSubscriber()
    from_iterable(range(10)).pipe(op.pairwise()).subscribe(sub)
    for _ in range(3):
        sub.request(1)

    for _ in range(10):
        await asyncio.sleep(0)
    assert sub.items == [(0, 1), (1, 2), (2, 3)]
    assert sub.violations == []
    sub.cancel()
