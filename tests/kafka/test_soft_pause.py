"""A pause leaves the partition out of ``getmany``; it never makes aiokafka throw away and
fetch again what it had fetched (#11: the refetches cost time, and the dropped ~1 MiB buffers
lived on until the garbage collector found them).

The broker test counts the fetch requests aiokafka sends for a partition that pauses and
resumes many times: with ``consumer.pause`` every pause dropped the rest of the partition's
fetched records and the resume fetched them again, so there was a fetch per pause.

A paused partition keeps its one fetch result, and aiokafka sends its broker no fetch for any
partition while such a result is younger than the fetcher's ``prefetch_backoff`` (0.1 s in
aiokafka); the source sets it to ``KafkaSourceConfig.prefetch_backoff`` (0.01 s), which the
consumer does not take as an argument, so the broker test checks the results it stores.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.kafka import FlowControl, KafkaRecord, KafkaSource, KafkaSourceConfig
from streamguard.kafka._context import SourceContext
from streamguard.kafka._flow import NOTHING, PauseApplier
from streamguard.kafka._lifecycle import Phase
from streamguard.kafka._pause import PauseReason
from streamguard.kafka._types import TopicPartition
from streamguard.testing import VirtualClock

from ._brokers import Broker, create_topic, produce, record_fetch_backoffs, record_fetches
from ._pipelines import source_config, wait_for

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def _applier() -> tuple[SourceContext, PauseApplier]:
    config = KafkaSourceConfig(bootstrap_servers="127.0.0.1:9", topics=("t",), group_id="g")
    ctx = SourceContext(config, "s", codec=None, bus=EventBus(),  # type: ignore[arg-type]
                        clock=VirtualClock())
    ctx.consumer = object()
    assert ctx.life.move(Phase.OPENING)
    assert ctx.life.move(Phase.RUNNING)
    ctx.parts = {A: None, B: None}  # type: ignore[dict-item]
    ctx.pause.assign(frozenset({A, B}))
    return ctx, PauseApplier(ctx)


def test_fetch_filter_leaves_paused_partitions_out() -> None:
    ctx, applier = _applier()
    assert applier.fetch_filter() == ()  # nothing paused: every partition, no filter
    ctx.pause.pause(PauseReason.USER, frozenset({A}))
    assert applier.apply() == [A]
    assert applier.fetch_filter() == (B,)
    ctx.pause.pause(PauseReason.USER, frozenset({B}))
    applier.apply()
    assert applier.fetch_filter() == NOTHING  # still a getmany, for no real partition
    assert ctx.counts.pauses == 2


async def test_a_resume_wakes_the_poll_that_left_the_partition_out() -> None:
    ctx, applier = _applier()
    ctx.pause.pause(PauseReason.USER, frozenset({A}))
    applier.apply()
    changed = applier.wake_on_change(applier.fetch_filter())
    ctx.pause.pause(PauseReason.USER, frozenset({A}))  # no change in what is fetched
    applier.apply()
    assert not changed.done()
    ctx.pause.resume(PauseReason.USER, frozenset({A}))
    applier.apply()
    assert changed.done()
    assert applier.fetch_filter() == ()
    assert ctx.counts.resumes == 1


class WaitingConsumer:
    """``getmany`` waits until cancelled, as aiokafka's does on an idle topic for its whole
    ``timeout_ms``; it counts its calls."""

    def __init__(self) -> None:
        self.polls = 0
        self.waiting = asyncio.Event()

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int, max_records: int
                      ) -> dict[TopicPartition, list[object]]:
        self.polls += 1
        self.waiting.set()
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")


@pytest.mark.parametrize("paused", [frozenset(), frozenset({A})], ids=["all", "soft-paused"])
async def test_stop_ends_the_poll_under_way_and_every_later_one(
    paused: frozenset[TopicPartition],
) -> None:
    ctx, applier = _applier()
    if paused:
        ctx.pause.pause(PauseReason.USER, paused)
        applier.apply()
    consumer = WaitingConsumer()
    poll = asyncio.create_task(applier.getmany(consumer, timeout_ms=60_000, max_records=10))
    await consumer.waiting.wait()
    applier.stop()
    applier.stop()  # twice: still one cancel, not taken for a cancel from outside
    assert await poll == {}  # the consumer's getmany never returns: stop() ended it
    assert not poll.cancelled()
    assert await applier.getmany(consumer, timeout_ms=60_000, max_records=10) == {}
    assert consumer.polls == 1  # a stopped owner polls no more


async def test_a_cancel_from_outside_goes_on_through_a_stopped_poll() -> None:
    _ctx, applier = _applier()
    consumer = WaitingConsumer()
    poll = asyncio.create_task(applier.getmany(consumer, timeout_ms=60_000, max_records=10))
    await consumer.waiting.wait()
    poll.cancel()  # e.g. asyncio.run's shutdown, at the same moment
    applier.stop()
    with pytest.raises(asyncio.CancelledError):
        await poll


@pytest.mark.integration
@pytest.mark.timeout(120)
async def test_pauses_never_make_the_consumer_fetch_records_again(
    kafka_broker: Broker, topic: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = 30_000  # ~3.4 MB in one partition: several full fetches
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, (b"%099d" % i for i in range(total)))

    fetches = record_fetches(monkeypatch, topic, below=total)
    bus = EventBus()
    source: KafkaSource[bytes] = KafkaSource(source_config(
        kafka_broker, topic, group, max_poll_records=100,
        flow=FlowControl(high_mark=400, low_mark=100)), bus=bus)
    seen: Counter[int] = Counter()

    async def slow(batch: list[KafkaRecord[bytes]]) -> None:
        for record in batch:
            seen[record.offset] += 1
        await asyncio.sleep(0.001)  # slower than fetching: the backlog reaches the high mark

    task = asyncio.create_task(source.stream().pipe(op.batch(50), op.sink(slow)).run())
    await wait_for(lambda: len(seen) == total, within=90, what="every record", task=task)
    source.drain()
    await task

    pauses = source.statistics().pauses
    assert pauses >= 10, source.statistics()
    assert set(seen.values()) == {1}, "a record was delivered twice"
    # ~3.4 MB arrive in fetches of up to fetch_max_bytes (1 MiB): a handful, whatever the
    # number of pauses. A fetch per pause meant every pause threw fetched records away.
    assert 3 <= len(fetches) < pauses // 4, (len(fetches), pauses, fetches[:20])


@pytest.mark.parametrize(("given", "used"), [(None, 0.01), (0.05, 0.05)])
async def test_every_fetch_result_holds_its_broker_back_for_prefetch_backoff_only(
    apache_broker: Broker, topic: str, group: str, monkeypatch: pytest.MonkeyPatch,
    given: float | None, used: float,
) -> None:
    await create_topic(apache_broker.bootstrap, topic, partitions=2)
    await produce(apache_broker, topic, (b"%d" % i for i in range(200)),
                  partition_of=lambda i: i % 2)
    backoffs = record_fetch_backoffs(monkeypatch)
    overrides = {} if given is None else {"prefetch_backoff": given}
    source: KafkaSource[bytes] = KafkaSource(
        source_config(apache_broker, topic, group, **overrides), bus=EventBus())
    seen: list[KafkaRecord[bytes]] = []
    task = asyncio.create_task(source.stream().pipe(op.sink(seen.append)).run())
    await wait_for(lambda: len(seen) == 200, within=30, what="every record", task=task)
    source.drain()
    await task
    assert backoffs, "no fetch result was stored"
    assert set(backoffs) == {used}  # aiokafka's own 0.1 s never reaches a result
