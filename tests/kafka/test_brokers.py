"""The brokers themselves: started by the fixtures, reachable, speaking ordinary Kafka."""

from __future__ import annotations

import pytest

from streamguard.servers import describe_consumer_group, kafka_answers

from ._brokers import Broker, consume_all, create_topic, produce, values_of

pytestmark = pytest.mark.integration


async def test_produce_and_consume_with_a_group(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    sent = [f"record-{i:04d}".encode() for i in range(500)]
    assert await produce(kafka_broker, topic, sent, partition_of=lambda i: i % 2) == 500

    records = await consume_all(kafka_broker, topic, 500, group=group)

    assert values_of(records) == sorted(sent)
    assert {r.partition for r in records} == {0, 1}
    assert all(r.topic == topic for r in records)


def test_broker_answers_the_kafka_protocol(kafka_broker: Broker) -> None:
    host, port = kafka_broker.bootstrap.rsplit(":", 1)
    assert kafka_answers(host, int(port))


def test_nothing_answers_on_a_closed_port() -> None:
    from streamguard.servers import free_port

    assert not kafka_answers("127.0.0.1", free_port(), timeout=0.5)


async def test_consumer_groups_tool_reads_committed_offsets(
    apache_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(apache_broker.bootstrap, topic, partitions=2)
    await produce(apache_broker, topic, [b"x"] * 40, partition_of=lambda i: i % 2)
    await consume_all(apache_broker, topic, 40, group=group)
    await produce(apache_broker, topic, [b"y"] * 6, partition_of=lambda i: 0)

    rows = describe_consumer_group(apache_broker.bootstrap, group)

    by_partition = {(r.topic, r.partition): r for r in rows}
    assert by_partition[(topic, 0)].current_offset == 20
    assert by_partition[(topic, 0)].log_end_offset == 26
    assert by_partition[(topic, 0)].lag == 6
    assert by_partition[(topic, 1)].lag == 0
