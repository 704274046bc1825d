"""Kafka keyed suite: key-ordered parallelism against one record at a time per partition (#13).

``python benchmarks/run.py kafka_keyed`` starts Apache Kafka (KRaft, jars from
``scripts/fetch_kafka.sh``), writes 24,000 records with 1,000 keys (``k0`` … ``k999``, in
turn) into 4 partitions (the producer's default key partitioner), and measures with the
shared harness (contenders interleaved, order rotated, one warm-up, 5 rounds, medians with
min/max; each round a fresh consumer group reading from the start):

* ``key_ordered``: ``KafkaSource`` (defaults) → ``op.sink(handle, concurrency=64,
  key=lambda r: r.key)`` — records of one key one at a time, in order; different keys
  concurrently (the Parallel Consumer's KEY mode);
* ``partition_ordered``: the same with ``key=lambda r: (r.topic, r.partition)`` — one record
  at a time per partition, the ordering a plain consumer loop per partition gives (the
  Parallel Consumer's PARTITION mode).

``handle`` is an ``async def`` that awaits ``asyncio.sleep(0.010)`` (a 10 ms call to another
service). The figure is records/s from the first record handled to the last counted one
(24,000 keyed; 2,000 per partition-ordered round, about 5 s at its ~400 records/s).
Ratio ``key_ordered_vs_partition_ordered`` = key_ordered ÷ partition_ordered (medians).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Hashable
from contextlib import ExitStack
from typing import Any

from _harness import Contender, Spread, compare, ratio, result

RECORDS = 24_000
PARTITION_ORDERED_RECORDS = 2_000
KEYS = 1_000
PARTITIONS = 4
CONCURRENCY = 64
CALL_SECONDS = 0.010
ROUNDS = 5


async def _produce(bootstrap: str, topic: str) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, b"%d" % i, key=b"k%d" % (i % KEYS))
                   for i in range(RECORDS)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, key: Callable[[Any], Hashable],
                   count: int) -> float:
    from streamguard import operators as op
    from streamguard.core import EventBus
    from streamguard.kafka import KafkaSource, KafkaSourceConfig

    handled = 0
    first = last = 0.0
    order_broken = 0
    last_seen: dict[Hashable, int] = {}

    async def handle(record: Any) -> None:
        nonlocal handled, first, last, order_broken
        k = key(record)
        if last_seen.get(k, -1) > record.offset:
            order_broken += 1
        last_seen[k] = record.offset
        await asyncio.sleep(CALL_SECONDS)
        handled += 1
        if handled == 1:
            first = time.perf_counter()
        elif handled == count:
            last = time.perf_counter()

    source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,),
        group_id=f"bench-keyed-{uuid.uuid4().hex[:8]}",
    ), bus=EventBus())
    task = asyncio.create_task(source.stream().pipe(
        op.sink(handle, concurrency=CONCURRENCY, key=key)).run())
    while handled < count:
        if task.done():
            task.result()
            raise AssertionError(f"the source ended after {handled} records")
        await asyncio.sleep(0.05)
    source.drain()
    await task
    assert order_broken == 0, f"{order_broken} records overtook an earlier one of their key"
    return (count - 1) / (last - first)


def _by_key(record: Any) -> Hashable:
    key: bytes = record.key
    return key


def _by_partition(record: Any) -> Hashable:
    return (record.topic, record.partition)


def run() -> dict[str, Any]:
    """Measure both orderings on Apache Kafka; return figures, spreads and the ratio."""
    from streamguard.servers import apache_kafka

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with ExitStack() as stack:
        bootstrap = stack.enter_context(apache_kafka())
        topic = f"bench-keyed-{uuid.uuid4().hex[:8]}"
        asyncio.run(_produce(bootstrap, topic))
        sink = f"op.sink(async 10 ms, concurrency={CONCURRENCY}"
        spreads = compare([
            Contender("key_ordered",
                      lambda: _consume(bootstrap, topic, _by_key, RECORDS),
                      config=f"KafkaSource defaults → {sink}, key=lambda r: r.key)"),
            Contender("partition_ordered",
                      lambda: _consume(bootstrap, topic, _by_partition,
                                       PARTITION_ORDERED_RECORDS),
                      config=f"KafkaSource defaults → {sink}, "
                             "key=lambda r: (r.topic, r.partition))"),
        ], rounds=ROUNDS, warmup=1)
    figures: dict[str, Spread] = {f"{k}_records_per_s": v for k, v in spreads.items()}
    ratios = {"key_ordered_vs_partition_ordered":
              ratio(spreads["key_ordered"], spreads["partition_ordered"])}
    return result(figures, ratios, extra={
        "records": RECORDS, "keys": KEYS, "partitions": PARTITIONS,
        "concurrency": CONCURRENCY, "call_ms": CALL_SECONDS * 1000,
        "ideal_ratio": CONCURRENCY / PARTITIONS,
    })
