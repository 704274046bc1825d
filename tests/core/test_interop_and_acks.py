"""reactivex both ways, and completion (acks) through every operator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reactivex
from reactivex import operators as rx_ops
from reactivex.subject import Subject

from streamguard import ConfigError, from_iterable, from_observable, to_observable
from streamguard import operators as op
from streamguard.testing import AckRecorder, TestSubscriber


def _times10(x: int) -> int:
    return x * 10


def _inc(x: int) -> int:
    return x + 1


def _odd(x: int) -> bool:
    return x % 2 == 1


def _div3(x: int) -> bool:
    return x % 3 == 0


def _below_30(x: int) -> bool:
    return x < 30


async def test_observable_feeds_a_pipeline() -> None:
    out = await from_observable(reactivex.of(1, 2, 3), capacity=10, overflow="drop_newest").pipe(
        op.map(_times10)).to_list()
    assert out == [10, 20, 30]


def test_observable_bridge_refuses_backpressure() -> None:
    with pytest.raises(ConfigError, match="overflow must be lossy for an Observable"):
        from_observable(reactivex.of(1), capacity=1, overflow="backpressure")


async def test_observable_overflow_is_counted() -> None:
    subject: Subject[int] = Subject()
    sub: TestSubscriber[int] = TestSubscriber()
    stream = from_observable(subject, capacity=3, overflow="drop_oldest")
    stream.subscribe(sub)
    sub.request(1)
    for i in range(10):
        subject.on_next(i)
    subject.on_completed()
    sub.request(100)
    await asyncio.sleep(0)
    assert sub.items == [0, 7, 8, 9]
    assert sub.completions == 1


async def test_pipeline_as_observable() -> None:
    got: list[int] = []
    done = asyncio.Event()
    to_observable(from_iterable(range(5)).pipe(op.map(_inc))).pipe(
        rx_ops.filter(_odd)
    ).subscribe(on_next=got.append, on_completed=done.set)
    await asyncio.wait_for(done.wait(), 5)
    assert got == [1, 3, 5]


async def test_pipeline_error_reaches_observer() -> None:
    errors: list[Exception] = []
    done = asyncio.Event()

    def boom(x: int) -> int:
        raise ValueError("nope")

    def on_error(e: Exception) -> None:
        errors.append(e)
        done.set()

    to_observable(from_iterable([1]).pipe(op.map(boom))).subscribe(on_error=on_error)
    await asyncio.wait_for(done.wait(), 5)
    assert "nope" in str(errors[0])


async def _work(x: int) -> int:
    await asyncio.sleep(0)
    return x


@pytest.mark.parametrize(
    "ops",
    [
        [op.map(_inc)],
        [op.filter(_div3)],
        [op.map_async(_work, concurrency=4, ordered=False)],
        [op.batch(7)],
        [op.buffer(5)],
        [op.prefetch(8)],
        [op.take(10)],
        [op.take_while(_below_30)],
        [op.buffer(2, overflow="drop_oldest"), op.map_async(_work)],
        [op.sink(lambda x: None)],
        [op.sink(_work, concurrency=3)],
    ],
    ids=lambda ops: "+".join(type(o).__name__ for o in ops),
)
async def test_every_item_completes_exactly_once(ops: list[Any]) -> None:
    rec = AckRecorder()
    await from_iterable(range(100), ack=rec.ack).pipe(*ops).run()
    assert not rec.failed
    # Items a take() never pulled were never produced, so never acked: only check produced ones
    # (those take() pulled and did not deliver are abandoned).
    assert rec.settled_exactly_once(), rec.describe()


async def test_batch_completes_members_when_the_batch_completes() -> None:
    rec = AckRecorder()
    sub: TestSubscriber[list[int]] = TestSubscriber(ack_on_receive=False)
    from_iterable(range(6), ack=rec.ack).pipe(op.batch(3)).subscribe(sub)
    sub.request(2)
    await asyncio.sleep(0)
    assert sub.items == [[0, 1, 2], [3, 4, 5]]
    assert sum(rec.done.values()) == 0
    first = sub.acks[0]
    assert first is not None
    first.done()
    assert set(rec.done) == {0, 1, 2}


async def test_async_for_completes_after_the_loop_body() -> None:
    rec = AckRecorder()
    completed_before_body: list[int] = []
    async for x in from_iterable(range(3), ack=rec.ack):
        completed_before_body.append(rec.done[x])
    assert completed_before_body == [0, 0, 0]
    assert rec.completed_exactly_once(range(3))


async def test_a_failed_ack_names_its_item() -> None:
    from streamguard import ItemFailedError

    rec = AckRecorder()

    def boom(x: int) -> int:
        if x == 2:
            raise ValueError("bad")
        return x

    await from_iterable(range(4), ack=rec.ack).pipe(op.map(boom, on_error="skip")).run()
    assert len(rec.errors) == 1
    error = rec.errors[0]
    assert isinstance(error, ItemFailedError)
    assert error.item == 2
    assert isinstance(error.__cause__, ValueError)
