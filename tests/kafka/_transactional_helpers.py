"""Helpers of the exactly-once tests: a pipeline's config, running it until a condition holds,
reading a topic to its end under an isolation level."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

from streamguard.kafka import TransactionalConfig, TransactionalPipeline

from ._brokers import Broker, create_topic, produce


def config(broker: Broker, src: str, group: str, out: str, **overrides: Any) -> TransactionalConfig:
    """A pipeline from *src* to *out* on *broker*: short sessions, small batches."""
    options: dict[str, Any] = {
        "bootstrap_servers": broker.bootstrap, "topics": (src,), "group_id": group,
        "output_topic": out, "session_timeout": 2.0, "heartbeat_interval": 0.5,
        "batch_records": 200, "batch_interval": 0.05, **overrides}
    return TransactionalConfig(**options)


async def numbered_topic(broker: Broker, topic: str, records: int, *, partitions: int = 1,
                         out_partitions: int = 1) -> str:
    """Create *topic* holding the values ``b"0"``, ``b"1"`` … (*records* of them, record *i* on
    partition ``i % partitions``) and its output topic; return the output topic's name."""
    out = topic + ".out"
    await create_topic(broker.bootstrap, topic, partitions=partitions)
    await create_topic(broker.bootstrap, out, partitions=out_partitions)
    await produce(broker, topic, (b"%d" % i for i in range(records)),
                  partition_of=(lambda i: i % partitions) if partitions > 1 else None)
    return out


async def run_until(pipeline: TransactionalPipeline[Any], done: Any, within: float = 60) -> Any:
    """Run *pipeline* until *done()* holds, then drain it; return its statistics."""
    task = asyncio.create_task(pipeline.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not done():
        assert not task.done(), task.exception() if task.done() else None
        assert loop.time() < deadline, pipeline.statistics()
        await asyncio.sleep(0.05)
    pipeline.drain()
    return await task


async def read_topic(
    bootstrap: str, topic: str, *, isolation: str = "read_committed", within: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of *topic* that *isolation* shows, read from the beginning to the end
    (the last stable offset under ``read_committed``, the high watermark otherwise)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        async with asyncio.timeout(within):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for recs in batch.values():
                    records.extend(recs)
    finally:
        await consumer.stop()
    return records


async def open_transactions_settled(bootstrap: str, topic: str, within: float = 30.0) -> None:
    """Wait until *topic* has no open transaction (last stable offset = high watermark)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        committed = await _ends(bootstrap, topic, "read_committed")
        uncommitted = await _ends(bootstrap, topic, "read_uncommitted")
        if committed == uncommitted:
            return
        assert loop.time() < deadline, f"open transactions on {topic}: {committed} vs {uncommitted}"
        await asyncio.sleep(0.2)


async def _ends(bootstrap: str, topic: str, isolation: str) -> dict[Any, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                         or ())]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()
