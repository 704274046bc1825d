"""The exactly-once pipeline's lanes pause the package's one way (#11): a lane holding
``max_buffered`` records, or fenced, is left out of ``getmany`` — never ``consumer.pause``d,
which made aiokafka throw away what it had fetched for the partition and fetch it again on
resume.

The unit tests drive the pipeline's loop with a consumer that has no ``pause``/``resume`` at
all (a hard pause would raise) and whose ``getmany`` waits until it is cancelled, like a poll
with nothing to fetch: what each poll was asked for shows the fetch filter, and a poll that
ends shows the wake. The broker test counts the fetch requests of a lane that pauses and
resumes dozens of times.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import ProducerFenced

from streamguard.kafka import TransactionalConfig, TransactionalPipeline
from streamguard.kafka._connection import DEFAULT_PREFETCH_BACKOFF
from streamguard.kafka._flow import NOTHING
from streamguard.kafka._transactional_lane import Lane
from streamguard.kafka._types import TP, TopicPartition
from streamguard.testing import VirtualClock

from ._brokers import Broker, create_topic, produce, record_fetch_backoffs, record_fetches
from ._transactional_helpers import config, read_topic, run_until

A, B = TopicPartition("in", 0), TopicPartition("in", 1)


class PollingConsumer:
    """``getmany`` hands out the batches queued in :attr:`batches`, one per call; with none
    queued it waits until cancelled. No ``pause``/``resume``: the pipeline must not need them."""

    def __init__(self) -> None:
        self.batches: list[dict[TP, list[Any]]] = []
        self.polls: list[tuple[TP, ...]] = []  # the partitions each getmany was asked for
        self.seeks: list[tuple[TP, int]] = []
        self.waiting = asyncio.Event()

    async def getmany(self, *partitions: TP, timeout_ms: int, max_records: int
                      ) -> dict[TP, list[Any]]:
        self.polls.append(partitions)
        if self.batches:
            return self.batches.pop(0)
        self.waiting.set()
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self.waiting.clear()
        raise AssertionError("unreachable")

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def committed(self, tp: TP) -> int:
        return 7


class GatedWriter:
    """Stands for the batch writer: each ``write`` waits for :meth:`release` (or raises
    :attr:`error`)."""

    def __init__(self) -> None:
        self.written: list[tuple[TP, list[int]]] = []
        self.gate = asyncio.Event()
        self.error: Exception | None = None

    async def write(self, lane: Lane, batch: list[Any]) -> None:
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.written.append((lane.tp, [r.offset for r in batch]))


def records(tp: TP, first: int, count: int) -> list[Any]:
    return [SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=o, value=b"v",
                            key=None, headers=()) for o in range(first, first + count)]


def pipeline_of(*tps: TP, **overrides: Any
                ) -> tuple[TransactionalPipeline[bytes], PollingConsumer, GatedWriter]:
    options: dict[str, Any] = {
        "bootstrap_servers": "127.0.0.1:9", "topics": ("in",), "group_id": "g",
        "output_topic": "out", "batch_records": 10, "max_buffered": 20, **overrides}
    cfg = TransactionalConfig(**options)
    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(
        cfg, lambda r: r.value, clock=VirtualClock())  # batches due by count alone
    consumer, writer = PollingConsumer(), GatedWriter()
    pipeline._consumer, pipeline._writer = consumer, writer  # type: ignore[assignment]
    for tp in tps:
        pipeline._lanes[tp] = Lane(tp)
    return pipeline, consumer, writer


async def settle() -> None:
    for _ in range(20):  # let every ready task run to its next wait
        await asyncio.sleep(0)


async def stop(pipeline: TransactionalPipeline[bytes]) -> None:
    """Cancel the batch writers still waiting."""
    await pipeline._retire(list(pipeline._lanes), 0)


async def test_a_full_lane_is_left_out_and_its_written_batches_wake_the_poll() -> None:
    pipeline, consumer, writer = pipeline_of(A, B)
    consumer.batches.append({A: records(A, 0, 20)})
    await pipeline._poll_once()  # A now holds max_buffered records: paused
    assert pipeline.statistics().pauses == 1
    poll = asyncio.create_task(pipeline._poll_once())
    await consumer.waiting.wait()
    assert consumer.polls == [(), (B,)]
    await settle()  # the writer took one batch: 10 pending, not below half, still paused
    assert not poll.done()
    assert pipeline._lanes[A].paused
    writer.gate.set()  # both batches written: nothing pending, the lane resumes
    await settle()
    assert poll.done()  # woken by the resume, not by the poll's timeout
    await poll
    assert writer.written == [(A, list(range(10))), (A, list(range(10, 20)))]
    consumer.batches.append({A: records(A, 20, 5)})
    await pipeline._poll_once()
    assert consumer.polls[-1] == ()  # every partition again
    stats = pipeline.statistics()
    assert (stats.pauses, stats.resumes, stats.consumed, stats.pending) == (1, 1, 25, 5)


async def test_with_every_lane_full_the_pipeline_still_polls() -> None:
    pipeline, consumer, _writer = pipeline_of(A, B)
    consumer.batches.append({A: records(A, 0, 20), B: records(B, 0, 25)})
    await pipeline._poll_once()
    poll = asyncio.create_task(pipeline._poll_once())
    await consumer.waiting.wait()
    # A getmany is active (the member stays in its group past max_poll_interval), for a
    # partition no consumer is ever assigned: it fetches nothing.
    assert consumer.polls[-1] == NOTHING
    assert pipeline.statistics().pauses == 2
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    await stop(pipeline)


async def test_a_fenced_lane_is_never_fetched_again() -> None:
    pipeline, consumer, writer = pipeline_of(A, B)
    writer.error = ProducerFenced()
    consumer.batches.append({A: records(A, 0, 10), B: records(B, 0, 3)})
    await pipeline._poll_once()
    writer.gate.set()
    await settle()  # A's batch was aborted: fenced, rewound, given up
    lane = pipeline._lanes[A]
    assert (lane.gone, lane.paused, lane.pending) == (True, True, [])
    assert consumer.seeks == [(A, 0)]
    for _ in range(3):  # a gone lane never resumes, however empty
        consumer.batches.append({A: records(A, 0, 10)})  # a poll that was already under way
        await pipeline._poll_once()
        assert consumer.polls[-1] == (B,)
    stats = pipeline.statistics()
    assert (stats.fenced, stats.pauses, stats.resumes, stats.consumed) == (1, 1, 0, 13)


async def test_an_assignment_wakes_the_poll_and_starts_fresh_lanes() -> None:
    pipeline, consumer, _writer = pipeline_of(A, guarantee="at_least_once")
    pipeline._lanes[A].pending.extend(records(A, 0, 20))
    pipeline._apply_pauses()
    poll = asyncio.create_task(pipeline._poll_once())
    await consumer.waiting.wait()
    assert consumer.polls == [NOTHING]
    # aiokafka's eager rebalance: every partition revoked, then the new assignment. With no
    # pause flag on the consumer, nothing is to be put back: the new lanes start unpaused
    # from the committed offset (a seek, which also drops a fetch held for the old lane).
    await pipeline._revoked(frozenset({A}))
    await pipeline._assigned(frozenset({A, B}))
    await settle()
    assert poll.done()  # the poll without the new lanes stopped at once
    await poll
    assert consumer.seeks == [(A, 7), (B, 7)]
    assert [(lane.paused, lane.fetch_next) for lane in pipeline._lanes.values()] == [
        (False, 7), (False, 7)]
    consumer.batches.append({A: records(A, 5, 5)})  # below the committed offset: not taken
    await pipeline._poll_once()
    assert consumer.polls[-1] == ()
    assert pipeline.statistics().pending == 3  # 7, 8, 9


@pytest.mark.integration
@pytest.mark.timeout(120)
async def test_a_lane_that_pauses_often_never_fetches_its_records_again(
    apache_broker: Broker, topic: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    total, out = 2000, topic + ".out"  # ~200 KB: one or two fetches hold all of it
    await create_topic(apache_broker.bootstrap, topic, partitions=1)
    await create_topic(apache_broker.bootstrap, out, partitions=1)
    await produce(apache_broker, topic, (b"%099d" % i for i in range(total)))

    fetches = record_fetches(monkeypatch, topic, below=total)

    # Counted beside the pipeline's own statistics, so that the test reads the same on the
    # code before the soft pause (which had no such counter).
    pauses = [0]
    apply = TransactionalPipeline._apply_pauses

    def counting_apply(self: TransactionalPipeline[Any]) -> None:
        was = {tp: lane.paused for tp, lane in self._lanes.items()}
        apply(self)
        pauses[0] += sum(lane.paused and not was[tp] for tp, lane in self._lanes.items())

    backoffs = record_fetch_backoffs(monkeypatch)
    monkeypatch.setattr(TransactionalPipeline, "_apply_pauses", counting_apply)
    # Fetching (from aiokafka's buffer) outruns the transactions, so the lane fills up to
    # max_buffered, pauses, and resumes once its two batches are written: ~50 times.
    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(config(
        apache_broker, topic, group, out, batch_records=20, max_buffered=40,
        max_poll_records=20), lambda record: record.value)
    stats = await run_until(pipeline, lambda: pipeline.statistics().committed >= total)

    assert pauses[0] >= 10, stats
    # A fetch per pause meant every pause threw the partition's fetched records away.
    assert 1 <= len(fetches) < pauses[0] // 4, (len(fetches), pauses[0], fetches[:20])
    assert stats.pauses == pauses[0], stats
    # A paused lane's held fetch result holds the broker's other partitions back only as long
    # as the source's default prefetch_backoff, not aiokafka's 0.1 s.
    assert backoffs, "no fetch result was stored"
    assert set(backoffs) == {DEFAULT_PREFETCH_BACKOFF}, set(backoffs)
    assert stats.resumes >= stats.pauses - 1, stats
    assert (stats.consumed, stats.committed, stats.aborts) == (total, total, 0)
    values = Counter(r.value for r in await read_topic(apache_broker.bootstrap, out))
    assert values == Counter(b"%099d" % i for i in range(total))
