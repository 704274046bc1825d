"""Lag on real brokers (#9, #10): records waiting before the group's first commit are counted,
``read_group_lag`` works without topics on every broker and lists topics once per check."""

from __future__ import annotations

import asyncio

import pytest

from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.kafka import (
    GroupLagProbe,
    KafkaRecord,
    KafkaSource,
    LagSampled,
    UnknownTopicError,
    _client,
    _lag,
    read_group_lag,
)

from ._brokers import Broker, create_topic, produce
from ._pipelines import Recorder, source_config, wait_for

pytestmark = pytest.mark.integration


class _Paused:
    """A source on a two-partition topic that takes ten records, then pauses both,
    and can never commit before it closes (a count and an interval no test reaches)."""

    def __init__(self, broker: Broker, topic: str, group: str) -> None:
        self.bus = EventBus()
        self.events = Recorder(self.bus)
        self.source: KafkaSource[bytes] = KafkaSource(source_config(
            broker, topic, group, commit_every=1_000_000, commit_interval=3600,
            lag_interval=0.2), bus=self.bus)
        self.seen: list[int] = []
        self.task = asyncio.create_task(self.source.stream().pipe(op.sink(self._store)).run())

    def _store(self, record: KafkaRecord[bytes]) -> None:
        self.seen.append(record.offset)
        if len(self.seen) == 10:
            self.source.pause()

    async def paused(self) -> None:
        """Wait until both partitions are assigned and paused."""
        source = self.source
        await wait_for(lambda: len(source.assignment()) == 2
                       and source.paused() == source.assignment(), within=60,
                       what="both partitions assigned and paused", task=self.task)

    async def samples(self, more: int) -> None:
        """Wait for *more* lag samples than there are now."""
        before = len(self.events.of(LagSampled))
        await wait_for(lambda: len(self.events.of(LagSampled)) >= before + more, within=30,
                       what="lag samples", task=self.task)


async def test_lag_before_the_first_commit_counts_the_waiting_records(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    await produce(kafka_broker, topic, [b"x"] * 3000, partition_of=lambda i: i % 2)
    run = _Paused(kafka_broker, topic, group)
    source, task = run.source, run.task
    try:
        await run.paused()
        await run.samples(2)
        lag = {(p.topic, p.partition): p for p in source.lag()}
        for partition in (0, 1):
            row = lag[(topic, partition)]
            assert row.committed is None
            assert (row.log_end, row.broker) == (1500, 1500), row
        outside = await read_group_lag(kafka_broker.bootstrap, group, topics=[topic])
        assert [(r.partition, r.committed, r.log_end, r.lag, r.log_start) for r in outside] == [
            (0, None, 1500, 1500, 0), (1, None, 1500, 1500, 0)]
        latest = await read_group_lag(kafka_broker.bootstrap, group, topics=[topic],
                                      auto_offset_reset="latest")
        assert [r.lag for r in latest] == [0, 0]
        probe = GroupLagProbe(kafka_broker.bootstrap, group=group, topic=topic)
        try:
            assert await probe() == 3000
        finally:
            await probe.aclose()
    finally:
        source.drain()
        await task


async def test_read_group_lag_without_topics_lists_what_the_group_committed(
    kafka_broker: Broker, topic: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = f"{topic}-other"
    await create_topic(kafka_broker.bootstrap, topic, partitions=3)
    await create_topic(kafka_broker.bootstrap, other, partitions=1)
    await produce(kafka_broker, topic, [b"a"] * 300, partition_of=lambda i: i % 3)
    await produce(kafka_broker, other, [b"b"] * 50)
    source: KafkaSource[bytes] = KafkaSource(source_config(
        kafka_broker, topic, group, partitions=((topic, 0), (topic, 2)), topics=()),
        bus=EventBus())
    seen: list[int] = []

    def store(record: KafkaRecord[bytes]) -> None:
        seen.append(record.offset)

    task = asyncio.create_task(source.stream().pipe(op.sink(store)).run())
    try:
        await wait_for(lambda: len(seen) == 200, within=60, what="200 records", task=task)
        await source.commit()
    finally:
        source.drain()
        await task
    await produce(kafka_broker, topic, [b"c"] * 30, partition_of=lambda i: i % 3)

    listings = 0
    real = _client.topic_partitions

    async def counting(consumer: object) -> dict[str, set[int]]:
        nonlocal listings
        listings += 1
        return await real(consumer)

    monkeypatch.setattr(_lag, "topic_partitions", counting)
    reader = _lag.GroupLagReader(kafka_broker.bootstrap, group, connect_timeout=20)
    try:
        for check in range(3):
            rows = await reader.read()
            assert [(r.topic, r.partition, r.committed, r.log_end, r.lag) for r in rows] == [
                (topic, 0, 100, 110, 10), (topic, 2, 100, 110, 10)], check
    finally:
        await reader.aclose()
    # At most one topic listing per check (none where the broker answers the
    # "every partition" OffsetFetch, as Apache Kafka does).
    assert listings == (0 if kafka_broker.name == "apache" else 3)


async def test_unknown_topic_is_named(kafka_broker: Broker, group: str) -> None:
    with pytest.raises(UnknownTopicError, match="topic 'sg-no-such-topic' does not exist on"):
        await read_group_lag(kafka_broker.bootstrap, group, topics=["sg-no-such-topic"],
                             connect_timeout=20)



async def test_the_close_publishes_the_lag_it_leaves_behind(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    # The CLI's summary showed the last periodic sample: partitions paused, records in
    # flight, a broker lag the close then committed away. The close samples once more.
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    await produce(kafka_broker, topic, [b"x"] * 200, partition_of=lambda i: i % 2)
    run = _Paused(kafka_broker, topic, group)
    source, task, events, seen = run.source, run.task, run.events, run.seen
    await run.paused()
    await run.samples(1)
    assert all(p.paused for p in events.of(LagSampled)[-1].partitions)
    source.drain()
    await task

    last = events.of(LagSampled)[-1]
    assert last.final
    assert not any(e.final for e in events.of(LagSampled)[:-1])
    left = {p.partition: p for p in last.partitions}
    outside = {r.partition: r for r in await read_group_lag(
        kafka_broker.bootstrap, group, topics=[topic])}
    assert sorted(left) == sorted(outside) == [0, 1]
    for partition, row in left.items():
        assert (row.paused, row.in_flight, row.backlog) == (False, 0, 0), row
        assert (row.committed, row.log_end, row.broker) == (
            outside[partition].committed, 100, outside[partition].lag), row
    assert sum(r.lag or 0 for r in outside.values()) == 200 - len(seen)
