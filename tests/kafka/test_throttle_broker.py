"""The lag-aware throttle against a real consumer group: the producer slows down while the
group lags behind and returns to full rate once it has caught up."""

from __future__ import annotations

import asyncio

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.kafka import (
    GroupLagProbe,
    KafkaRecord,
    KafkaSink,
    KafkaSinkConfig,
    KafkaSource,
    LagThrottleConfig,
    ThrottleRateChanged,
    throttle_by_lag,
)

from ._brokers import Broker, create_topic
from ._pipelines import Recorder, source_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 3000


@pytest.mark.timeout(180)
async def test_producer_slows_while_the_group_lags_and_recovers(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    bus = EventBus()
    events = Recorder(bus)
    slow = True
    consumed: list[int] = []
    source: KafkaSource[bytes] = KafkaSource(
        source_config(kafka_broker, topic, group, commit_interval=0.1), bus=EventBus())

    async def consume(record: KafkaRecord[bytes]) -> None:
        if slow:
            await asyncio.sleep(0.01)
        consumed.append(record.offset)

    consumer = asyncio.create_task(source.stream().pipe(op.sink(consume)).run())
    probe = GroupLagProbe(kafka_broker.bootstrap, group=group, topic=topic)
    config = LagThrottleConfig(max_rate=1000, threshold=300, min_rate=20, interval=0.3)
    try:
        async with KafkaSink[bytes](KafkaSinkConfig(
            bootstrap_servers=kafka_broker.bootstrap, topic=topic,
            idempotence=kafka_broker.idempotence,
        )) as sink:
            producer = asyncio.create_task(from_iterable(b"%d" % i for i in range(TOTAL)).pipe(
                throttle_by_lag(probe, config, bus=bus, name="throttle"),
                sink.sink(concurrency=8),
            ).run(name="producer"))
            await wait_for(
                lambda: any(e.rate <= config.max_rate / 8 for e in events.of(ThrottleRateChanged)),
                within=60, what=f"the producer to slow down ({events.events}, {len(consumed)})",
                task=producer)
            slow = False
            await wait_for(lambda: producer.done(), within=90, what="the producer to finish")
            await producer
        await wait_for(lambda: len(consumed) == TOTAL, within=60, what="the group to catch up",
                       task=consumer)
    finally:
        await probe.aclose()
        source.drain()
        await consumer

    changes = events.of(ThrottleRateChanged)
    shown = [(e.rate, e.lag) for e in changes]
    rates = [config.max_rate] + [e.rate for e in changes]
    for before, event in zip(rates, changes, strict=False):
        # down only while the group lags beyond the threshold, up only once it does not
        assert (event.rate < before) == (event.lag > config.threshold), shown
    lowest = min(range(len(changes)), key=lambda i: changes[i].rate)
    assert changes[lowest].rate <= config.max_rate / 8, shown
    assert any(e.rate == config.max_rate for e in changes[lowest + 1:]), shown
