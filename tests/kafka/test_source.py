"""The Kafka source on real brokers: flow control, commits, lag, errors."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

import pytest

from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.kafka import (
    BrokerUnreachableError,
    FlowControl,
    KafkaRecord,
    KafkaSource,
    KafkaSourceConfig,
    LagSampled,
    OffsetsCommitted,
    PartitionPaused,
    PartitionResumed,
    TopicPartition,
    UnknownTopicError,
    read_group_lag,
)
from streamguard.kafka._lag import LogEndReader
from streamguard.servers import describe_consumer_group, free_port

from ._brokers import Broker, committed_offsets, create_topic, produce
from ._pipelines import Recorder, source_config, wait_for

pytestmark = pytest.mark.integration

HIGH, LOW = 2000, 500


@pytest.mark.slow
async def test_slow_sink_pauses_at_high_mark_and_resumes_at_low_mark(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    total = 200_000
    await create_topic(kafka_broker.bootstrap, topic, partitions=4)
    await produce(kafka_broker, topic, (b"%08d" % i for i in range(total)),
                  partition_of=lambda i: i % 4)

    bus = EventBus()
    events = Recorder(bus)
    source: KafkaSource[bytes] = KafkaSource(
        source_config(kafka_broker, topic, group, flow=FlowControl(high_mark=HIGH, low_mark=LOW)),
        bus=bus,
    )
    problems: list[str] = []

    def check_paused_set(event: Any) -> None:
        tp = TopicPartition(event.topic, event.partition)
        in_consumer = tp in source.paused()
        backlog = next(p.backlog for p in source.lag() if p.partition == event.partition)
        if isinstance(event, PartitionPaused) and not in_consumer:
            problems.append(f"{tp} paused but not in the consumer's paused set")
        if isinstance(event, PartitionResumed):
            if in_consumer:
                problems.append(f"{tp} resumed but still in the consumer's paused set")
            if backlog > LOW:
                problems.append(f"{tp} resumed with backlog {backlog} > low mark {LOW}")

    bus.subscribe(lambda e: check_paused_set(e)
                  if isinstance(e, PartitionPaused | PartitionResumed) else None)

    seen: Counter[tuple[int, int]] = Counter()
    peak_backlog: dict[int, int] = defaultdict(int)

    async def slow_store(batch: list[KafkaRecord[bytes]]) -> None:
        for record in batch:
            seen[(record.partition, record.offset)] += 1
        for lag in source.lag():
            peak_backlog[lag.partition] = max(peak_backlog[lag.partition], lag.backlog)
        await asyncio.sleep(0.002)

    task = asyncio.create_task(
        source.stream().pipe(op.batch(100, timeout=0.05), op.sink(slow_store)).run())
    await wait_for(lambda: len(seen) == total, within=240, what="every record", task=task)
    source.drain()
    await task

    assert not problems, problems[:5]
    paused = Counter(e.partition for e in events.of(PartitionPaused))
    resumed = Counter(e.partition for e in events.of(PartitionResumed))
    assert set(paused) == {0, 1, 2, 3}, paused
    assert set(resumed) == {0, 1, 2, 3}, resumed
    # Pauses and resumes alternate; the last pause may outlive the stream (closed paused).
    assert all(paused[p] - resumed[p] in (0, 1) for p in range(4)), (paused, resumed)
    assert all(e.reasons == ("backlog",) for e in events.of(PartitionPaused))
    # Bounded: a partition never holds more than the high mark plus one poll's records.
    assert max(peak_backlog.values()) >= HIGH
    assert max(peak_backlog.values()) <= HIGH + source.config.max_poll_records
    assert sorted(seen) == [(i % 4, i // 4) for i in range(total)] or len(seen) == total
    assert set(seen.values()) == {1}
    committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
    assert committed == {TopicPartition(topic, p): total // 4 for p in range(4)}
    assert events.of(OffsetsCommitted)


async def test_out_of_order_completion_commits_only_the_contiguous_prefix(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(300)))
    source: KafkaSource[bytes] = KafkaSource(
        source_config(kafka_broker, topic, group, commit_every=1, commit_interval=0.05),
        bus=EventBus())
    release = asyncio.Event()
    done: list[int] = []

    async def work(record: KafkaRecord[bytes]) -> None:
        if record.offset == 100:
            await release.wait()  # one slow record holds the commit point
        done.append(record.offset)

    task = asyncio.create_task(source.stream().pipe(
        op.sink(work, concurrency=16)).run())
    await wait_for(lambda: len(done) >= 250, within=60, what="records after the slow one",
                   task=task)
    await source.commit()
    assert (await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])).get(
        TopicPartition(topic, 0), 0) <= 100
    release.set()
    await wait_for(lambda: len(done) == 300, within=60, what="all records", task=task)
    source.drain()
    await task
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, 0): 300}


async def test_drain_starts_at_the_call_and_its_handle_returns_the_pipelines_result(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(50)))
    source: KafkaSource[bytes] = KafkaSource(source_config(kafka_broker, topic, group),
                                             bus=EventBus())
    done: list[int] = []

    def store(record: KafkaRecord[bytes]) -> None:
        done.append(record.offset)

    pipeline = source.stream().pipe(op.sink(store)).start(name="handle")
    await wait_for(lambda: len(done) == 50, within=60, what="every record")
    handle = source.drain(timeout=10)  # a plain call, as from a signal handler
    assert source.phase in ("draining", "closing", "closed")
    result = await handle
    assert (result.name, result.items, result.outcome) == ("handle", 50, "drained")
    assert await handle == result == await source.drain(timeout=10) == await pipeline.wait()
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, 0): 50}


async def test_log_end_reader_is_right_where_list_offsets_is_not(
    kafka_broker: Broker, topic: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    # Several batches per partition, so a "base offset of the last batch" answer is visibly off.
    for _ in range(3):
        await produce(kafka_broker, topic, [b"x" * 50] * 400, partition_of=lambda i: i % 2)
    reader = LogEndReader(kafka_broker.bootstrap)
    try:
        ends = await reader.log_end_offsets([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        consumer = await reader.consumer()
        listed = await consumer.end_offsets(list(ends))
    finally:
        await reader.aclose()
    assert ends == {TopicPartition(topic, 0): 600, TopicPartition(topic, 1): 600}
    assert all(listed[tp] <= ends[tp] for tp in ends)
    if kafka_broker.name == "apache":
        assert listed == ends


async def test_lag_equals_the_consumer_groups_tool(
    apache_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(apache_broker.bootstrap, topic, partitions=3)
    await produce(apache_broker, topic, [b"a"] * 3000, partition_of=lambda i: i % 3)
    bus = EventBus()
    events = Recorder(bus)
    source: KafkaSource[bytes] = KafkaSource(
        source_config(apache_broker, topic, group, lag_interval=0.2), bus=bus)
    seen: list[int] = []

    def store(record: KafkaRecord[bytes]) -> None:
        seen.append(record.offset)
        if len(seen) == 1500:
            source.pause()  # every partition, by hand: highwater() goes stale from here

    task = asyncio.create_task(source.stream().pipe(op.sink(store)).run())
    await wait_for(lambda: source.paused() == source.assignment() != frozenset(),
                   within=60, what="all partitions paused", task=task)
    await source.commit()
    await produce(apache_broker, topic, [b"b"] * 600, partition_of=lambda i: i % 3)
    samples_before = len(events.of(LagSampled))
    await wait_for(lambda: len(events.of(LagSampled)) >= samples_before + 2, within=30,
                   what="fresh lag samples", task=task)

    tool = await asyncio.to_thread(describe_consumer_group, apache_broker.bootstrap, group)
    ours = {(p.topic, p.partition): p for p in source.lag()}
    assert len(tool) == 3

    def expected_lag(row: Any) -> int:
        # The tool shows no lag ("-") where the group never committed; ours counts the
        # records waiting there, from the log start (#9).
        return int(row.lag) if row.current_offset is not None else int(row.log_end_offset)

    for row in tool:
        mine = ours[(row.topic, row.partition)]
        assert (mine.committed, mine.log_end, mine.broker) == (
            row.current_offset, row.log_end_offset, expected_lag(row)), (row, mine)
    outside = await read_group_lag(apache_broker.bootstrap, group, topics=[topic])
    assert {(r.topic, r.partition, r.committed, r.log_end, r.lag) for r in outside} == {
        (r.topic, r.partition, r.current_offset, r.log_end_offset, expected_lag(r))
        for r in tool}
    source.resume()
    await wait_for(lambda: len(seen) == 3600, within=60, what="the rest", task=task)
    source.drain()
    await task


async def test_unreachable_broker_is_a_clear_error_in_bounded_time() -> None:
    source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=f"127.0.0.1:{free_port()}", topics=("t",), group_id="g",
        connect_timeout=3.0), bus=EventBus())
    with pytest.raises(BrokerUnreachableError, match="cannot connect to a Kafka broker at"):
        async with asyncio.timeout(10):
            await source.stream().pipe(op.sink(print)).run()


async def test_unknown_topic_is_a_clear_error(kafka_broker: Broker, group: str) -> None:
    source: KafkaSource[bytes] = KafkaSource(
        source_config(kafka_broker, "sg-no-such-topic", group), bus=EventBus())
    with pytest.raises(UnknownTopicError, match="'sg-no-such-topic' do not exist"):
        async with asyncio.timeout(30):
            await source.stream().pipe(op.sink(print)).run()
