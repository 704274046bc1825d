"""The Kafka sink: topic → pipeline → topic, delivery awaited before the source commits."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.kafka import (
    IdempotenceUnsupportedError,
    KafkaRecord,
    KafkaSink,
    KafkaSinkConfig,
    KafkaSource,
    OutgoingRecord,
    TopicPartition,
)

from ._brokers import Broker, committed_offsets, consume_all, create_topic, produce
from ._pipelines import source_config, wait_for

pytestmark = pytest.mark.integration


async def test_topic_to_pipeline_to_topic_is_at_least_once(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    out_topic = f"{topic}.out"
    await create_topic(kafka_broker.bootstrap, topic, partitions=3)
    await create_topic(kafka_broker.bootstrap, out_topic, partitions=3)
    await produce(kafka_broker, topic, (orjson.dumps({"n": i}) for i in range(1500)),
                  partition_of=lambda i: i % 3)
    source: KafkaSource[dict[str, int]] = KafkaSource(
        source_config(kafka_broker, topic, group), codec="json", bus=EventBus())

    def double(record: KafkaRecord[dict[str, int]]) -> OutgoingRecord:
        return OutgoingRecord(value=orjson.dumps({"n": record.value["n"] * 2}),
                              key=str(record.value["n"]).encode(), headers=[("via", b"sg")])

    async with KafkaSink[OutgoingRecord](KafkaSinkConfig(
        bootstrap_servers=kafka_broker.bootstrap, topic=out_topic,
        idempotence=kafka_broker.idempotence,
    )) as sink:
        task = asyncio.create_task(
            source.stream().pipe(op.map(double), sink.sink(concurrency=32)).run())
        await wait_for(lambda: sink.delivered == 1500, within=60, what="all deliveries",
                       task=task)
        source.drain()
        await task

    out = await consume_all(kafka_broker, out_topic, 1500)
    assert sorted(orjson.loads(r.value)["n"] for r in out if r.value) == [
        2 * i for i in range(1500)]
    assert all(dict(r.headers) == {"via": b"sg"} for r in out)
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, p): 500 for p in range(3)}


async def test_an_idempotent_producer_works_or_is_refused_clearly(
    kafka_broker: Broker, topic: str
) -> None:
    sink: KafkaSink[bytes] = KafkaSink(KafkaSinkConfig(
        bootstrap_servers=kafka_broker.bootstrap, topic=topic, connect_timeout=10))
    try:
        if kafka_broker.idempotence:
            delivered = await sink.send(b"hello")
            assert (delivered.topic, delivered.offset) == (topic, 0)
        else:
            with pytest.raises(IdempotenceUnsupportedError,
                               match=r"need KafkaSinkConfig\(idempotence=False\)$"):
                await sink.send(b"hello")
    finally:
        await sink.aclose()


async def test_a_refused_dead_letter_producer_names_the_source_setting(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    # #9: the hint used to say idempotence=False, a setting the source does not have.
    dlq = f"{topic}.dlq"
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await create_topic(kafka_broker.bootstrap, dlq, partitions=1)
    await produce(kafka_broker, topic, [b"a"] * 3)
    source: KafkaSource[bytes] = KafkaSource(source_config(
        kafka_broker, topic, group, dead_letter_topic=dlq, dead_letter_idempotence=True),
        bus=EventBus())
    got: list[int] = []

    def store(record: KafkaRecord[bytes]) -> None:
        got.append(record.offset)

    pipeline = source.stream().pipe(op.sink(store))
    if kafka_broker.idempotence:
        task = asyncio.create_task(pipeline.run())
        await wait_for(lambda: len(got) == 3, within=60, what="3 records", task=task)
        source.drain()
        await task
    else:
        with pytest.raises(IdempotenceUnsupportedError,
                           match=r"dead-letter producer .* need "
                                 r"KafkaSourceConfig\(dead_letter_idempotence=False\)$"):
            await pipeline.run()
