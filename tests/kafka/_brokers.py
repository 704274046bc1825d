"""What the Kafka tests know about the broker they run against, and small client helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.consumer.fetcher import FetchResult
from aiokafka.structs import ConsumerRecord, TopicPartition

from streamguard.kafka import read_group_lag
from streamguard.kafka._offset_map import MetadataError, decode


@dataclass(frozen=True, kw_only=True, slots=True)
class Broker:
    """A running broker under test.

    Attributes:
        name: ``"apache"``, ``"tansu"`` or ``"external"`` (``STREAMGUARD_KAFKA_BOOTSTRAP``).
        bootstrap: ``host:port`` for the clients.
        idempotence: whether the broker grants idempotent producers (Tansu 0.6 does not).
        consumer_options: aiokafka consumer settings this broker needs in tests (Tansu's
            JoinGroup waits half the session timeout, so a short one keeps the tests quick).
    """

    name: str
    bootstrap: str
    idempotence: bool = True
    consumer_options: Mapping[str, Any] = field(default_factory=dict)


def unique_name(prefix: str, test_name: str) -> str:
    """A topic or group name of its own for one test: readable prefix, random suffix."""
    cleaned = "".join(c if c.isalnum() else "-" for c in test_name)[:40].strip("-")
    return f"{prefix}-{cleaned}-{uuid.uuid4().hex[:8]}"


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create *topic* with *partitions* partitions (replication 1) and fail loudly otherwise."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    errors = [e for e in response.topic_errors if e[1] != 0]
    assert not errors, f"creating topic {topic!r} failed: {errors}"


async def produce(
    broker: Broker,
    topic: str,
    values: Iterable[bytes],
    *,
    partition_of: Any = None,
    key_of: Any = None,
) -> int:
    """Produce *values* to *topic*, waiting for every delivery; return how many were sent."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap,
        acks="all",
        enable_idempotence=broker.idempotence,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    count = 0
    try:
        futures = []
        for i, value in enumerate(values):
            partition = partition_of(i) if partition_of is not None else None
            key = key_of(i) if key_of is not None else None
            futures.append(await producer.send(topic, value, key=key, partition=partition))
            count += 1
            if len(futures) >= 10_000:
                for fut in futures:
                    await fut
                futures.clear()
        for fut in futures:
            await fut
    finally:
        await producer.stop()
    return count


async def produce_sentinels(broker: Broker, topic: str, partitions: Iterable[int]
                            ) -> dict[int, int]:
    """Append one record ``b"sentinel"`` to each of *partitions*; return its offset per partition.

    A consumer is handed a partition's records in offset order, so once it has the sentinel it
    has had everything it would ever deliver before it: a test asserts "nothing else came" after
    the sentinels arrived, not after a wait that a loaded machine can outlast."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                                enable_idempotence=broker.idempotence)
    await producer.start()
    try:
        return {p: (await producer.send_and_wait(topic, b"sentinel", partition=p)).offset
                for p in partitions}
    finally:
        await producer.stop()


async def consume_all(
    broker: Broker, topic: str, count: int, *, group: str | None = None, timeout_ms: int = 60_000
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read *count* records of *topic* from the beginning with a plain aiokafka consumer."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **dict(broker.consumer_options),
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        while len(records) < count:
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            assert batch, f"no record within {timeout_ms} ms; have {len(records)} of {count}"
            for recs in batch.values():
                records.extend(recs)
        if group is not None:
            await consumer.commit()
    finally:
        await consumer.stop()
    return records


def values_of(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[bytes]:
    """The values of *records*, sorted (partitions interleave in any order)."""
    return sorted(r.value for r in records if r.value is not None)


async def committed_offsets(
    bootstrap: str, group: str, *, topics: Iterable[str]
) -> dict[TopicPartition, int]:
    """The offsets *group* committed on *topics*, per partition (as the lag reader sees them)."""
    rows = await read_group_lag(bootstrap, group, topics=topics, connect_timeout=20)
    return {TopicPartition(r.topic, r.partition): r.committed for r in rows
            if r.committed is not None}


async def last_commit(bootstrap: str, group: str) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """Per partition: the committed offset and the completed ranges its metadata names."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    commit = {}
    for tp, om in found.items():
        try:
            ranges = decode(om.metadata, om.offset)
        except MetadataError:
            ranges = []
        commit[tp.partition] = (om.offset, ranges)
    return commit


def record_fetches(monkeypatch: pytest.MonkeyPatch, topic: str, below: int) -> list[int]:
    """From now on, the offset every fetch request for *topic*'s records asks from (offsets at
    or above *below*, a fetch waiting at the log's end, are left out)."""
    fetches: list[int] = []
    send = AIOKafkaClient.send

    async def counting_send(self: Any, node_id: Any, request: Any, **kw: Any) -> Any:
        if type(request).__name__.startswith("FetchRequest"):
            for name, partitions in request.topics:
                if name == topic:
                    fetches.extend(entry[1] for entry in partitions if entry[1] < below)
        return await send(self, node_id, request, **kw)

    monkeypatch.setattr(AIOKafkaClient, "send", counting_send)
    return fetches


def record_fetch_backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """From now on, the hold-back (aiokafka's prefetch backoff) of every fetch result that a
    consumer stores."""
    backoffs: list[float] = []
    init = FetchResult.__init__

    def recording(self: Any, tp: Any, **kw: Any) -> None:
        backoffs.append(kw["backoff"])
        init(self, tp, **kw)

    monkeypatch.setattr(FetchResult, "__init__", recording)
    return backoffs
