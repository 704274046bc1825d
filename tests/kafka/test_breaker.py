"""An open breaker downstream pauses the partitions: the downstream fails for longer than
max_poll_interval, nothing is dropped or committed past what completed, the consumer stays in
its group, and everything resumes when the downstream recovers."""

from __future__ import annotations

import asyncio

import pytest

from streamguard.breaker import BreakerConfig, CircuitBreaker, State, StateTransition
from streamguard.core import EventBus
from streamguard.guard import guarded_sink
from streamguard.kafka import (
    KafkaRecord,
    KafkaSource,
    PartitionPaused,
    PartitionsAssigned,
    PartitionsRevoked,
    TopicPartition,
)
from streamguard.retry import RetryConfig

from ._brokers import Broker, committed_offsets, create_topic, produce
from ._pipelines import Recorder, source_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 3000
MAX_POLL_INTERVAL = 4.0


@pytest.mark.timeout(180)
async def test_open_breaker_pauses_partitions_and_everything_resumes(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(TOTAL)),
                  partition_of=lambda i: i % 2)
    bus = EventBus()
    events = Recorder(bus)
    breaker = CircuitBreaker("downstream", BreakerConfig(
        window_size=8, minimum_calls=4, failure_rate_threshold=0.5, open_duration=0.5), bus=bus)
    source: KafkaSource[bytes] = KafkaSource(source_config(
        kafka_broker, topic, group,
        max_poll_interval=MAX_POLL_INTERVAL, commit_interval=0.2), bus=bus,
        pause_on=(breaker,))
    outage = False
    delivered: set[tuple[int, int]] = set()

    async def deliver(record: KafkaRecord[bytes]) -> None:
        await asyncio.sleep(0.001)
        if outage:
            raise ConnectionError("downstream is down")
        delivered.add((record.partition, record.offset))

    task = asyncio.create_task(source.stream().pipe(guarded_sink(
        deliver, breaker=breaker, concurrency=4, on_open="backpressure",
        retry=RetryConfig(attempts=4, base_delay=0.02, max_delay=0.1),
    )).run())
    await wait_for(lambda: len(delivered) >= 300, within=60, what="first deliveries", task=task)
    assert source.assignment() == {TopicPartition(topic, 0), TopicPartition(topic, 1)}

    outage = True
    await asyncio.sleep(MAX_POLL_INTERVAL * 1.5)
    assert breaker.state is not State.CLOSED
    assert any(e.to_state is State.OPEN for e in events.of(StateTransition))
    assert any("breaker" in e.reasons for e in events.of(PartitionPaused))
    committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
    for tp, offset in committed.items():
        assert all((tp.partition, o) in delivered for o in range(offset)), (tp, offset)
    # Still a member: no rebalance happened, the assignment is unchanged.
    assert source.assignment() == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    assert len(events.of(PartitionsAssigned)) == 1
    assert not events.of(PartitionsRevoked)

    outage = False
    await wait_for(lambda: len(delivered) == TOTAL, within=90, what="recovery", task=task)
    source.drain()
    await task
    assert delivered == {(i % 2, i // 2) for i in range(TOTAL)}
    assert State(breaker.state.value) is State.CLOSED  # (re-read: mypy keeps the old narrowing)
    assert len(events.of(PartitionsAssigned)) == 1
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, p): TOTAL // 2 for p in range(2)}
