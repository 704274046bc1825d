"""Poison records on real brokers: undecodable and rejected records go to the dead-letter
topic with headers naming their origin and error; the pipeline keeps going; nothing is lost."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.kafka import (
    HEADER_ERROR_MESSAGE,
    HEADER_ERROR_TYPE,
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_TOPIC,
    KafkaRecord,
    KafkaSource,
    RecordDeadLettered,
    RecordFailedError,
    TopicPartition,
)
from streamguard.kafka._dead_letter import DeadLetterWriter

from ._brokers import Broker, committed_offsets, consume_all, create_topic, produce
from ._pipelines import Recorder, source_config, wait_for

pytestmark = pytest.mark.integration

TOTAL = 400


def payload(i: int) -> bytes:
    return b"{not json" if i % 20 == 7 else orjson.dumps({"n": i})


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_malformed_and_rejected_records_land_in_the_dead_letter_topic(
    kafka_broker: Broker, topic: str, group: str, concurrency: int
) -> None:
    dlq = f"{topic}.dlq"
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    await create_topic(kafka_broker.bootstrap, dlq, partitions=1)
    await produce(kafka_broker, topic, (payload(i) for i in range(TOTAL)),
                  partition_of=lambda i: i % 2)
    bus = EventBus()
    events = Recorder(bus)
    source: KafkaSource[dict[str, int]] = KafkaSource(
        source_config(kafka_broker, topic, group, dead_letter_topic=dlq), codec="json", bus=bus)
    stored: list[int] = []

    async def store(record: KafkaRecord[dict[str, int]]) -> None:
        n = record.value["n"]
        if n % 33 == 0:
            raise ValueError(f"downstream rejected order {n}")
        stored.append(n)

    malformed = [i for i in range(TOTAL) if i % 20 == 7]
    rejected = [i for i in range(TOTAL) if i % 20 != 7 and i % 33 == 0]
    task = asyncio.create_task(source.stream().pipe(
        op.sink(store, concurrency=concurrency, on_error=source.dead_letter)).run())
    await wait_for(lambda: len(stored) + source.statistics().dead_lettered == TOTAL,
                   within=60, what="every record stored or dead-lettered", task=task)
    source.drain()
    await task

    assert sorted(stored) == [i for i in range(TOTAL) if i not in malformed and i not in rejected]
    letters = await consume_all(kafka_broker, dlq, len(malformed) + len(rejected))
    by_origin = {}
    for letter in letters:
        headers = dict(letter.headers)
        assert headers[HEADER_TOPIC] == topic.encode()
        by_origin[(int(headers[HEADER_PARTITION]), int(headers[HEADER_OFFSET]))] = (
            letter.value, headers[HEADER_ERROR_TYPE].decode(),
            headers[HEADER_ERROR_MESSAGE].decode())
    expected_malformed = {(i % 2, i // 2): i for i in malformed}
    for origin in expected_malformed:
        value, error_type, _message = by_origin[origin]
        assert value == b"{not json"
        assert error_type == "orjson.JSONDecodeError"
    for i in rejected:
        value, error_type, message = by_origin[(i % 2, i // 2)]
        assert orjson.loads(value) == {"n": i}
        assert error_type == "ValueError"
        assert message == f"downstream rejected order {i}"
    assert len(by_origin) == len(malformed) + len(rejected)
    assert len(events.of(RecordDeadLettered)) == len(by_origin)
    committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
    assert committed == {TopicPartition(topic, 0): TOTAL // 2, TopicPartition(topic, 1): TOTAL // 2}


async def test_without_a_dead_letter_topic_a_malformed_record_stops_the_stream_uncommitted(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, [orjson.dumps({"n": 0}), b"{oops", orjson.dumps({"n": 2})])
    source: KafkaSource[dict[str, int]] = KafkaSource(
        source_config(kafka_broker, topic, group), codec="json", bus=EventBus())
    seen: list[int] = []

    def store(record: KafkaRecord[dict[str, int]]) -> None:
        seen.append(record.value["n"])

    with pytest.raises(RecordFailedError, match=r"could not be decoded with codec 'json'.*"
                                                r"dead_letter_topic"):
        async with asyncio.timeout(60):
            await source.stream().pipe(op.sink(store)).run()
    assert seen == [0]
    committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
    assert committed == {TopicPartition(topic, 0): 1}


async def test_a_drain_lets_the_dead_letters_being_written_finish_and_commits_them(
    kafka_broker: Broker, topic: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sink settles a dead-lettered record at once, so the pipeline's stages can end
    while its dead letter is still being written: the source still owns that write. Before,
    the pipeline's end cancelled it, the record stayed "being dead-lettered" for ever and
    the source's close waited for it to the drain's deadline (a --workers drain hit its 30 s
    timeout under load, #14): ``drain_expired`` and the records not committed."""
    count = 6
    dlq = f"{topic}.dlq"
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await create_topic(kafka_broker.bootstrap, dlq, partitions=1)
    await produce(kafka_broker, topic, (orjson.dumps({"n": i}) for i in range(count)))
    writing = asyncio.Event()
    write = DeadLetterWriter.write

    async def slow_write(self: DeadLetterWriter, *args: object, **kwargs: object) -> None:
        writing.set()
        await asyncio.sleep(0.5)  # the broker's acks=all answer, on a loaded machine
        await write(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DeadLetterWriter, "write", slow_write)
    source: KafkaSource[dict[str, int]] = KafkaSource(
        source_config(kafka_broker, topic, group, dead_letter_topic=dlq), codec="json",
        bus=EventBus())
    refused: list[int] = []

    def refuse(record: KafkaRecord[dict[str, int]]) -> None:
        refused.append(record.value["n"])
        raise ValueError("refused")

    pipeline = source.stream().pipe(op.sink(refuse, on_error=source.dead_letter)).start()
    await wait_for(lambda: len(refused) == count and writing.is_set(), within=60,
                   what="every record refused")
    result = await pipeline.drain(timeout=5)

    assert result.outcome == "drained"
    assert source.statistics().dead_lettered == count
    assert len(await consume_all(kafka_broker, dlq, count)) == count
    committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
    assert committed == {TopicPartition(topic, 0): count}
